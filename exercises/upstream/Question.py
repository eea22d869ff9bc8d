"""Exercise 1's question: computed inside the container, so everyone gets the same answer."""


def nth_prime(n: int) -> int:
    """The n-th prime number (1-based), by trial division."""
    primes: list[int] = []
    candidate = 1
    while len(primes) < n:
        candidate += 1
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
    return primes[-1]


if __name__ == "__main__":
    print("Question: what is the 100th prime number?")
    print(f"Answer: {nth_prime(100)}")
