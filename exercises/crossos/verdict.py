"""What the crossos exercise shows, checked: the two locks differ, John's result on bullseye is
not Maggie's (or his run failed), and John's run of Maggie's image gives exactly her result.

Usage: verdict.py BOOKWORM.lock BULLSEYE.lock MAGGIE.json JOHN.json JOHN_RUNS_MAGGIES.json OUT
(the .json files are run steps' records: exit_code, stdout, stderr). Writes OUT, or fails
saying which of the three does not hold.
"""
import json
import os
import sys


def pins(path):
    with open(path, encoding="utf-8") as handle:
        return [line.split(" ")[0] for line in handle if "==" in line]


def main(bookworm, bullseye, maggie, john, johns_run, out):
    runs = []
    for path in (maggie, john, johns_run):
        with open(path, encoding="utf-8") as handle:
            runs.append(json.load(handle))
    hers, his, his_of_hers = runs
    mine, theirs = pins(bookworm), pins(bullseye)
    problems = []
    if mine == theirs:
        problems.append("the two locks pin the same versions")
    if his["exit_code"] == 0 and his["stdout"] == hers["stdout"]:
        problems.append("John's result on bullseye is Maggie's")
    if (his_of_hers["exit_code"], his_of_hers["stdout"]) != (0, hers["stdout"]):
        problems.append("John's run of Maggie's image did not give her result")
    if problems:
        sys.exit("; ".join(problems) + ".")
    only = sorted(set(mine) ^ set(theirs))
    text = (f"locks differ: {', '.join(only)}\n"
            f"--- Maggie (bookworm) ---\n{hers['stdout']}"
            f"--- John (bullseye, exit {his['exit_code']}) ---\n{his['stdout']}{his['stderr'][-600:]}"
            f"--- John runs Maggie's image ---\n{his_of_hers['stdout']}")
    print(text, end="")
    with open(out + ".part", "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(out + ".part", out)


if __name__ == "__main__":
    main(*sys.argv[1:7])
