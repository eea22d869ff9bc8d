"""Resolve Maggie's environment.yml for one Debian release's Python, on this machine, and
download the lock's wheels: what pip would pick on that release (its Python version, its C
library), without that release's pip (containers here cannot reach PyPI).

Usage: resolve.py ENVIRONMENT.yml RELEASE.json LOCK WHEELHOUSE

RELEASE.json is a run step's record whose stdout is "PYTHON_VERSION GLIBC_VERSION" (as the
release's own python3 says them, e.g. "3.9 2.31"). Writes LOCK (name==version with sha256
hashes, and a header saying for what it was resolved) and WHEELHOUSE (the lock's wheels, pip's
own wheel and the lock as requirements.lock), each whole or not at all.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml


def pip(*args):
    found = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                           capture_output=True, text=True)
    if found.returncode != 0:
        sys.exit(f"pip {args[0]} failed: {found.stderr.strip()[-1500:]}")
    return found.stdout


def main(spec_path, release_path, lock_path, wheelhouse):
    with open(spec_path, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    with open(release_path, encoding="utf-8") as handle:
        python, glibc = json.load(handle)["stdout"].split()
    wanted = [d for d in spec["dependencies"] if isinstance(d, str)
              and d.replace(" ", "").startswith("python=")]
    requirements = [r for d in spec["dependencies"] if isinstance(d, dict) for r in d["pip"]]
    major, minor = (int(x) for x in glibc.split("."))
    # the wheels this release can install: CPython of its version, manylinux up to its glibc
    target = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python,
              "--abi", f"cp{python.replace('.', '')}"]
    for n in range(minor, 4, -1):
        target += ["--platform", f"manylinux_{major}_{n}_x86_64"]
    target += ["--platform", "manylinux2014_x86_64", "--platform", "linux_x86_64"]
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        with open(os.path.join(tmp, "requirements.txt"), "w") as out:
            out.write("\n".join(requirements) + "\n")
        pip("install", "--dry-run", "--ignore-installed", "--quiet", "--target",
            os.path.join(tmp, "none"), "--report", report, *target, "-r",
            os.path.join(tmp, "requirements.txt"))
        with open(report, encoding="utf-8") as handle:
            chosen = json.load(handle)["install"]
    lines = [f"# {os.path.basename(spec_path)} resolved for Python {python} with glibc {glibc}"
             + (f" ({wanted[0].strip()} asked for; this release has {python})"
                if wanted and wanted[0].split("=", 1)[1].strip() != python else ""),
             "#   pip install --require-hashes --no-deps -r THIS_FILE"]
    for item in sorted(chosen, key=lambda i: i["metadata"]["name"].lower()):
        sha = item["download_info"]["archive_info"]["hashes"]["sha256"]
        lines.append(f"{item['metadata']['name']}=={item['metadata']['version']} \\\n"
                     f"    --hash=sha256:{sha}")
    lock = "\n".join(lines) + "\n"
    partial = wheelhouse.rstrip("/") + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    with open(os.path.join(partial, "requirements.lock"), "w", encoding="utf-8") as out:
        out.write(lock)
    pip("download", "--quiet", "--no-deps", "--require-hashes", *target, "-d", partial, "-r",
        os.path.join(partial, "requirements.lock"))
    pip("download", "--quiet", "--no-deps", *target, "-d", partial, "pip")
    shutil.rmtree(wheelhouse, ignore_errors=True)
    os.rename(partial, wheelhouse)
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path + ".part", "w", encoding="utf-8") as out:
        out.write(lock)
    os.replace(lock_path + ".part", lock_path)
    print(lock, end="")


if __name__ == "__main__":
    main(*sys.argv[1:5])
