"""Maggie's experiment: a small table of scores, its column types and a summary."""
import pandas as pd

scores = pd.DataFrame({"student": ["maggie", "john", "maggie", "john"],
                       "score": [0.1 + 0.2, 1 / 3, 2 / 3, 0.5]})
print(scores.groupby("student")["score"].mean().round(4).to_markdown())
print("column types:", {name: str(kind) for name, kind in scores.dtypes.items()})
