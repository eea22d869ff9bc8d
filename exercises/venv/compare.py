"""Compare the pip freeze of an environment (its record) with a container's (a run record).

Usage: compare.py VENV_RECORD.json RUN_RECORD.json OUTPUT.txt
Writes the common freeze to OUTPUT.txt, or fails showing both.
"""
import json
import os
import sys


def main(venv_record: str, run_record: str, out: str) -> int:
    with open(venv_record, encoding="utf-8") as handle:
        venv = json.load(handle)["freeze"]
    with open(run_record, encoding="utf-8") as handle:
        image = "\n".join(sorted(json.load(handle)["stdout"].split(), key=str.lower)) + "\n"
    if venv != image:
        print(f"the image's packages differ from the environment's:\n--- venv ---\n{venv}"
              f"--- image ---\n{image}", file=sys.stderr)
        return 1
    print(f"same packages in the environment and in the image:\n{venv}", end="")
    with open(out + ".part", "w", encoding="utf-8") as handle:
        handle.write(venv)
    os.replace(out + ".part", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
