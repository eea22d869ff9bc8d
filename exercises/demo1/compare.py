"""Record the container's count and the native count side by side; fail if they differ.

Usage: compare.py CONTAINER_RECORD.json NATIVE_COUNT.txt OUTPUT.json
"""
import json
import os
import sys


def main(record_path: str, native_path: str, out_path: str) -> int:
    with open(record_path, encoding="utf-8") as handle:
        container = int(json.load(handle)["stdout"].strip())
    with open(native_path, encoding="utf-8") as handle:
        native = int(handle.read().strip())
    print(f"lines holding a digit: container {container}, native {native}")
    if container != native:
        print("the counts differ: this machine's grep/wc disagree with the container's",
              file=sys.stderr)
        return 1
    tmp = out_path + ".part"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"container": container, "native": native}, handle)
        handle.write("\n")
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
