"""Fuzzed exercise specs: hypothesis mutates real exercise.yml files; any outcome other than
a clean load or one SpecError paragraph counts as a traceback.

AC295_FUZZ_EXAMPLES sets how many mutations (default 300 in the README's test command; the
full figure takes 10000). The first are stratified: every kind of edit on every spec once
(at lines drawn from the seed); hypothesis draws the rest, from the same seed (printed;
AC295_SEED replays the whole run).
"""
from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seeds
from clones import REPO, copy_project
from tasks import project
from tasks.errors import Ac295Error

EXAMPLES = int(os.environ.get("AC295_FUZZ_EXAMPLES", "300"))
SPECS = sorted(p.relative_to(REPO) for p in (REPO / "exercises").glob("*/exercise.yml"))
SCALARS = ["[]", "{}", "1", "-3", "true", "null", "~", '"x{y}"', '"{registry"', "../..",
           "/etc/passwd", "'{nope}'", "[a, [b]]", "{a: {b: c}}", "0x1F", "1e9", '"é\\u0000"',
           "&a x", "*a", "!!python/object:os.system x", "x" * 300, "'@sha256:'", "-"]


OPS = ("delete", "duplicate", "text", "scalar", "key", "indent", "swap")
KEYS = ["tga", "run", "build", "push", "network", "detach", "ports", "ready", "from_lock",
        "recipe", "after", "expect", "env", "include", "x"]


class Draws:
    """Where a mutation's choices come from: hypothesis (``draw``), or a seeded
    ``random.Random`` for the stratified cases."""

    def __init__(self, draw: st.DrawFn | None = None, rng: random.Random | None = None):
        self.draw, self.rng = draw, rng

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high)) if self.draw else self.rng.randint(low, high)

    def pick(self, items: list) -> object:
        return self.draw(st.sampled_from(items)) if self.draw else self.rng.choice(items)

    def text(self) -> str:
        if self.draw:
            return self.draw(st.text(max_size=40))
        return "".join(chr(self.rng.choice([self.rng.randint(32, 126),
                                            self.rng.randint(0, 0x2FFF)]))
                       for _ in range(self.rng.randint(0, 40)))


def mutate(lines: list[str], op: str, draws: Draws) -> None:
    """Apply one edit of kind ``op`` to a spec's lines, at a line ``draws`` picks."""
    if not lines:
        return
    i = draws.integer(0, len(lines) - 1)
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "text":
        lines[i] = draws.text()
    elif op == "scalar":
        key = lines[i].split(":", 1)[0] if ":" in lines[i] else "key"
        lines[i] = f"{key}: {draws.pick(SCALARS)}"
    elif op == "key":
        indent = " " * int(draws.pick([0, 2, 4, 6]))
        lines.insert(i, f"{indent}{draws.pick(KEYS)}: {draws.pick(SCALARS)}")
    elif op == "indent":
        lines[i] = (" " * int(draws.pick([0, 1, 2, 4]))) + lines[i].lstrip()
    elif op == "swap":
        j = draws.integer(0, len(lines) - 1)
        lines[i], lines[j] = lines[j], lines[i]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[Path, str]:
    spec = draw(st.sampled_from(SPECS))
    lines = (REPO / spec).read_text().splitlines()
    draws = Draws(draw=draw)
    for _ in range(draw(st.integers(1, 3))):
        mutate(lines, str(draws.pick(list(OPS))), draws)
    return spec, "\n".join(lines) + "\n"


def stratified(rng: random.Random) -> list[tuple[Path, str]]:
    """Every kind of edit on every spec, once each (at lines the seed picks)."""
    cases = []
    for spec in SPECS:
        for op in OPS:
            lines = (REPO / spec).read_text().splitlines()
            mutate(lines, op, Draws(rng=rng))
            cases.append((spec, "\n".join(lines) + "\n"))
    return cases


def test_fuzzed_specs_never_traceback() -> None:
    work = Path(tempfile.mkdtemp(prefix="ac295-fuzz-"))
    root = work / "ac295"
    copy_project(root)
    tracebacks: list[str] = []
    kinds: set[str] = set()
    counts = {"clean": 0, "spec error": 0}

    seed = seeds.seed("test_fuzzed_specs_never_traceback")

    def one(mutation: tuple[Path, str]) -> None:
        spec, text = mutation
        target = root / spec
        original = target.read_text()
        target.write_text(text, errors="surrogatepass")
        try:
            _, tasks = project.load(root, environ={})
            # a broken exercise is set aside as a task that fails with its error
            # (tasks/project.py load_isolated): the error is that task's action's argument
            errors = [str(t["actions"][0][1][0]) for t in tasks
                      if str(t.get("doc", "")).startswith("BROKEN ")]
            counts["spec error" if errors else "clean"] += 1
            for message in errors:
                if "\n" in message:  # not one paragraph: as bad as a traceback for a user
                    tracebacks.append(f"{spec}: multi-line error\n{message}")
                    kinds.add("multi-line: " + message[:150])
        except Ac295Error as err:  # a problem of the whole project: one paragraph too
            counts["spec error"] += 1
            if "\n" in str(err):
                tracebacks.append(f"{spec}: multi-line error\n{err}")
                kinds.add("multi-line: " + str(err)[:150])
        except Exception:  # noqa: BLE001 - this is what the test counts
            tracebacks.append(f"{spec}:\n{text}\n{traceback.format_exc()}")
            kinds.add(traceback.format_exc().strip().splitlines()[-3].strip() + " | "
                      + "".join(traceback.format_exception_only(*sys.exc_info()[:2]))[:150])
        finally:
            target.write_text(original)

    cases = stratified(random.Random(seed))
    drawn = settings(max_examples=max(EXAMPLES - len(cases), 1), deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))(given(mutations())(one))
    try:
        for case in cases:
            one(case)
        hypothesis.seed(seed)(drawn)()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = counts["clean"] + counts["spec error"] + len([t for t in tracebacks
                                                         if "multi-line" not in t])
    print(f"FIGURE fuzzed specs (seed {seed}): {total} mutations ({len(cases)} stratified: "
          f"each of {len(OPS)} kinds of edit on each of {len(SPECS)} specs), "
          f"{counts['clean']} loaded, {counts['spec error']} spec errors, "
          f"{len(tracebacks)} tracebacks")
    # both outcomes were seen: the mutations reach the parser, and its errors reach the test
    assert counts["clean"] > 0 and counts["spec error"] > len(cases) // 4, counts
    assert not tracebacks, (f"seed {seed}:\n" + "\n".join(sorted(kinds)) + "\n\n"
                            + tracebacks[0])
