"""Benchmark: how much work incremental reruns save, as ratios to a full run in the same run.

Copies the project to a temporary folder (own state, registry port and names, like the tests),
then times, on the real engine and registry:
  full      doit exercise2 exercise1 demo1 with nothing done yet (the baseline; base image
            included, with a recipe no earlier run made, so debootstrap dominates)
  noop      the same again: nothing to do
  edit      after editing exercise2/Question.py: build, run and push of exercise2 only
  fresh     a second clone with no records and no doit database, on the same engine and
            registry: images are recovered by their inputs-digest labels, pushes skipped
  list      doit list
Prints seconds and the ratio of each to `full`. Cleans up what it made.
Usage: script/bench
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["exercise2", "exercise1", "demo1"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clone(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".ac295", ".git", "__pycache__", ".pytest_cache", ".mypy_cache"))
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def doit(root: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([str(root / ".venv/bin/doit"), *args], cwd=root, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"doit {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def ran(output: str) -> int:
    return sum(1 for line in output.splitlines() if line.startswith(".  "))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ac295-bench-"))
    tag = f"bench{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AC295_")}
    registry = f"127.0.0.1:{free_port()}"
    env.update(AC295_REGISTRY=registry, AC295_HUB_USER=tag, AC295_LOCAL_PREFIX=f"{tag}-",
               AC295_DEMO2_PORT=str(free_port()),
               # a base recipe no earlier run made (the trailing slash), so that `full` is
               # really cold: debootstrap included, nothing reused from the engine
               AC295_DEBIAN_MIRROR="http://deb.debian.org/debian/")
    first, second = clone(work / "a"), clone(work / "b")
    results: list[tuple[str, float, int]] = []
    try:
        t, out = doit(first, env, *TARGETS)
        results.append(("full", t, ran(out)))
        t, out = doit(first, env, *TARGETS)
        results.append(("noop", t, ran(out)))
        question = first / "exercises/exercise2/Question.py"
        question.write_text(question.read_text() + "\n# benchmark edit\n")
        t, out = doit(first, env, *TARGETS)
        results.append(("edit", t, ran(out)))
        question2 = second / "exercises/exercise2/Question.py"
        question2.write_text(question.read_text())
        # the second clone has its own state folder but shares the engine and the registry:
        # its registry storage is the first clone's (same port), so point it there
        (second / ".ac295").mkdir()
        (second / ".ac295/registry").symlink_to(first / ".ac295/registry")
        t, out = doit(second, env, *TARGETS)
        results.append(("fresh", t, ran(out)))
        t, out = doit(first, env, "list")
        results.append(("list", t, 0))
    finally:
        subprocess.run([str(first / ".venv/bin/doit"), "registry_stop"], cwd=first, env=env,
                       capture_output=True)
        client = docker.from_env()
        ours = [i for i in client.images.list()
                if any(n.startswith((registry + "/", tag + "-"))
                       for n in i.tags + i.attrs.get("RepoDigests", []))]
        for image in sorted(ours, key=lambda i: i.attrs.get("Created", ""), reverse=True):
            try:
                client.images.remove(image.id, force=True)
            except docker.errors.APIError:
                pass
        shutil.rmtree(work, ignore_errors=True)
    base = results[0][1]
    print(f"{'run':<6} {'seconds':>8} {'ratio to full':>14} {'tasks run':>10}")
    for name, seconds, count in results:
        print(f"{name:<6} {seconds:>8.2f} {seconds / base:>14.4f} {count:>10}")


if __name__ == "__main__":
    main()
