"""The "experiment" Maggie replicates: a small computation that needs John's new library."""
from more_itertools import chunked
from tabulate import tabulate

rows = [(i, sum(chunk), max(chunk)) for i, chunk in enumerate(chunked(range(1, 101), 25), 1)]
print(tabulate(rows, headers=["chunk", "sum", "max"], tablefmt="github"))
print(f"total: {sum(r[1] for r in rows)}")
