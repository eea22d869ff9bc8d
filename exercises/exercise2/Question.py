"""Exercise 2's question: the image computes its own answer, the same on every machine."""


def sum_square_difference(n: int) -> int:
    """(1 + 2 + ... + n)^2 - (1^2 + 2^2 + ... + n^2)."""
    numbers = range(1, n + 1)
    return sum(numbers) ** 2 - sum(k * k for k in numbers)


if __name__ == "__main__":
    print("Question: what is the difference between the square of the sum and the sum of the")
    print("squares of the first ten natural numbers?")
    print(f"Answer: {sum_square_difference(10)}")
