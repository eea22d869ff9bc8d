"""Mutation testing: how many small bugs planted in the code the unit tests catch.

mutmut (pinned in requirements.txt) mutates every function of tasks/kinds, tasks/graph,
tasks/engine and tasks/dsl, one small change at a time (a comparison flipped, a constant or
a string changed, an argument dropped), and runs the unit tests that reach the function
against each mutant. A mutant the tests fail on is killed; one they pass on survived: a
bug the tests would let through, unless the change means the same (an equivalent mutant,
listed with its reason in docs/mutation.md).

It works on a copy of the files git tracks, in <state folder>/mutation/tree (mutmut writes
its mutants and results beside them, never into the source tree), and keeps its results
there. Each run tests every mutant of the modules it names again. The score printed at the end is

    (killed + timed out) / (all mutants - equivalent ones)

per module and in all, then every surviving mutant (`--diff`: with its change).

Usage: script/mutate [--module kinds|graph|engine|dsl]... [--max-children N] [--survivors]
                     [--report [--markdown]] [--diff] [--fail-under PERCENT]
"""
from __future__ import annotations

import argparse
import ast
import difflib
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("kinds", "graph", "engine", "dsl")
DOCS = ROOT / "docs" / "mutation.md"
# mutmut's exit codes (mutmut/stats.py), as the score counts them
STATUS = {1: "killed", 3: "killed", 37: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          34: "skipped", None: "not checked"}


def state_folder() -> Path:
    """The project's state folder (ac295.yml's state_dir, or AC295_STATE_DIR)."""
    sys.path.insert(0, str(ROOT))
    from tasks.dsl.config import load

    return load(ROOT, os.environ).state


def tracked() -> list[str]:
    """The files git tracks (the copy holds exactly these)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        sys.exit(f"mutate: cannot list the files git tracks in {ROOT} ({err}); run it in a "
                 "git checkout of the project.")
    return [name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]


def sync(tree: Path) -> None:
    """Make ``tree`` hold the tracked files (changed ones copied, removed ones removed);
    mutmut's own folder (mutants/) is kept, so that its results carry over."""
    files = tracked()
    tree.mkdir(parents=True, exist_ok=True)
    wanted = set(files)
    for path in sorted(tree.rglob("*"), reverse=True):
        rel = path.relative_to(tree).as_posix()
        if rel in ("mutants", ".venv", ".git") or rel.startswith(("mutants/", ".git/")):
            continue
        if path.is_file() and rel not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    for rel in files:
        src, dest = ROOT / rel, tree / rel
        if dest.is_file() and filecmp.cmp(src, dest, shallow=False):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    # the tests run in mutants/ (mutmut's copy), and some start the project's own doit
    for venv in (tree / ".venv", tree / "mutants" / ".venv"):
        venv.parent.mkdir(parents=True, exist_ok=True)
        if not venv.is_symlink():
            venv.symlink_to(ROOT / ".venv")
    # tests that copy the project list its files with `git ls-files` (tests/clones.py): the
    # tree is a repository of its own, whose untracked files are the copy's files
    if not (tree / ".git").is_dir():
        subprocess.run(["git", "init", "-q"], cwd=tree, check=True)
    (tree / ".git" / "info").mkdir(exist_ok=True)
    (tree / ".git" / "info" / "exclude").write_text(
        "/.venv\n/mutants/.venv\n.hypothesis/\n*.meta\n")


def equivalents() -> dict[str, str]:
    """The mutants docs/mutation.md marks equivalent: {name: reason}."""
    found: dict[str, str] = {}
    section = False
    for line in DOCS.read_text(encoding="utf-8").splitlines() if DOCS.is_file() else []:
        if line.startswith("## "):
            section = line.strip() == "## Equivalent mutants"
        match = re.match(r"\|\s*`([^`]+)`\s*\|\s*(.+?)\s*\|\s*$", line) if section else None
        if match:
            found[match.group(1)] = match.group(2)
    return found


def results(tree: Path, modules: list[str]) -> dict[str, dict[str, str]]:
    """{module: {mutant: status}} from mutmut's result files."""
    found: dict[str, dict[str, str]] = {m: {} for m in modules}
    for module in modules:
        for meta in sorted((tree / "mutants" / "tasks" / module).rglob("*.py.meta")):
            data = json.loads(meta.read_text(encoding="utf-8"))
            for name, code in data.get("exit_code_by_key", {}).items():
                found[module][name] = STATUS.get(code, "suspicious")
    return found


def show(tree: Path, name: str) -> str:
    """The lines a mutant changed ("- old" then "+ new"), read from mutmut's generated module
    (the original function and the mutant side by side): much faster than `mutmut show`."""
    module, _, function = name.rpartition(".")
    source = tree / "mutants" / (module.replace(".", "/") + ".py")
    base = function.rsplit("__mutmut_", 1)[0]
    found: dict[str, list[str]] = {}
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                node.name in (function, base + "__mutmut_orig"):
            found[node.name] = (ast.get_source_segment(source.read_text(encoding="utf-8"), node)
                                or "").splitlines()[1:]
    old, new = found.get(base + "__mutmut_orig", []), found.get(function, [])
    return "\n".join(line.rstrip() for line in difflib.unified_diff(old, new, lineterm="", n=0)
                     if line[:1] in "-+" and line[:3] not in ("---", "+++"))


def markdown(tree: Path, modules: list[str]) -> str:
    """The survivors of the last run as a Markdown page: by module, each with its change."""
    marked = equivalents()
    found = results(tree, modules)
    lines = ["# Surviving mutants", "",
             "Written by `script/mutate --report --markdown > docs/mutation-survivors.md` from "
             "the last run (see [mutation.md](mutation.md)). Each is a small change to the code "
             "that no unit test notices: a test to write, or, if it changes nothing a caller "
             "can see, a line in mutation.md's table of equivalent mutants.", ""]
    for module in modules:
        left = [n for n, status in sorted(found[module].items())
                if status in ("survived", "no tests", "suspicious", "not checked")
                and n not in marked]
        lines += [f"## tasks/{module} ({len(left)})", ""]
        for name in left:
            change = show(tree, name).replace("`", "'").splitlines()
            shown = " / ".join(c.strip()[:110] for c in change[:4]) or "(no change read)"
            lines.append(f"- `{name}` ({found[module][name]}): `{shown}`")
        lines.append("")
    return "\n".join(lines)


def report(tree: Path, modules: list[str], diff: bool) -> float:
    """Print the score table and the survivors; return the overall score (percent)."""
    marked = equivalents()
    found = results(tree, modules)
    print(f"{'module':8} {'mutants':>8} {'killed':>7} {'survived':>9} {'no tests':>9} "
          f"{'timeout':>8} {'equivalent':>11} {'score':>7}")
    totals: Counter[str] = Counter()
    survivors: list[str] = []
    for module in modules:
        counts: Counter[str] = Counter()
        for name, status in found[module].items():
            if status != "killed" and name in marked:
                status = "equivalent"
            counts[status] += 1
            if status in ("survived", "no tests", "suspicious", "not checked"):
                survivors.append(name)
        totals.update(counts)
        print(_row(module, counts))
    print(_row("all", totals))
    stale = sorted(set(marked) - {n for m in found.values() for n, s in m.items()
                                  if s != "killed"})
    stale = [n for n in stale if n.split(".")[1] in modules]
    if stale:
        print(f"\n{len(stale)} mutant(s) docs/mutation.md marks equivalent are no survivors "
              "(killed now, or renamed by an edit): " + ", ".join(stale))
    if survivors:
        print(f"\n{len(survivors)} surviving mutant(s): kill each with a unit test, or mark "
              "it equivalent with its reason in docs/mutation.md")
        for name in survivors:
            print(f"  {name}")
            if diff:
                print("    " + show(tree, name).replace("\n", "\n    "))
    return _score(totals)


def _score(counts: Counter[str]) -> float:
    """Killed or timed out (a test hung on the mutant: caught), of all but the equivalent."""
    judged = sum(counts.values()) - counts["equivalent"] - counts["skipped"]
    caught = counts["killed"] + counts["timeout"]
    return 100.0 * caught / judged if judged else 100.0


def _row(name: str, counts: Counter[str]) -> str:
    return (f"{name:8} {sum(counts.values()):>8} {counts['killed']:>7} "
            f"{counts['survived'] + counts['suspicious'] + counts['not checked']:>9} "
            f"{counts['no tests']:>9} {counts['timeout']:>8} {counts['equivalent']:>11} "
            f"{_score(counts):>6.1f}%")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", choices=MODULES,
                        help="a package of tasks/ to mutate (repeatable; default: all four)")
    parser.add_argument("--max-children", type=int, default=2,
                        help="mutants tested at once (default 2)")
    parser.add_argument("--report", action="store_true",
                        help="only print the score of the last run")
    parser.add_argument("--survivors", action="store_true",
                        help="test only the last run's survivors again (after adding tests)")
    parser.add_argument("--diff", action="store_true", help="show each survivor's change")
    parser.add_argument("--markdown", action="store_true",
                        help="with --report: print the survivors as a Markdown page")
    parser.add_argument("--fail-under", type=float, default=0.0, metavar="PERCENT",
                        help="exit 1 when the score is below PERCENT")
    args = parser.parse_args()
    modules = args.module or list(MODULES)
    tree = state_folder() / "mutation" / "tree"
    if not args.report:
        sync(tree)
        started = time.monotonic()
        last = results(tree, modules) if args.survivors else {}
        for module in modules:
            names = [f"tasks.{module}.*"]
            if args.survivors:
                names = [n for n, status in sorted(last[module].items()) if status != "killed"]
                if not names:
                    continue
            print(f"mutate: tasks/{module} ({len(names) if args.survivors else 'all'} "
                  "mutants tested against the unit tests)", flush=True)
            log = tree.parent / f"{module}.log"
            begun = time.monotonic()
            with log.open("w", encoding="utf-8") as out:
                proc = subprocess.run([str(ROOT / ".venv/bin/mutmut"), "run", "--max-children",
                                       str(args.max_children), *names], cwd=tree,
                                      stdout=out, stderr=subprocess.STDOUT)
            if proc.returncode != 0:
                tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
                print(f"{tail}\nmutate: mutmut stopped with exit code {proc.returncode} on "
                      f"tasks/{module} (its output: {log}). Fix what it names, then run "
                      "script/mutate again.", file=sys.stderr)
                return proc.returncode
            print(f"mutate: tasks/{module} took {time.monotonic() - begun:.0f} s", flush=True)
        print(f"mutate: {time.monotonic() - started:.0f} s in all")
    elif not (tree / "mutants").is_dir():
        print("mutate: no results yet; run script/mutate first.", file=sys.stderr)
        return 1
    if args.report and args.markdown:
        print(markdown(tree, modules))
        return 0
    score = report(tree, modules, args.diff)
    return 1 if score < args.fail_under else 0


if __name__ == "__main__":
    sys.exit(main())
