"""Fuzzed exercise specs: hypothesis mutates real exercise.yml files; any outcome other than
a clean load or one SpecError paragraph counts as a traceback.

AC295_FUZZ_EXAMPLES sets how many mutations (default 300 in the README's test command; the
full figure takes 10000).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clones import REPO, copy_project
from tasks import project
from tasks.errors import Ac295Error

EXAMPLES = int(os.environ.get("AC295_FUZZ_EXAMPLES", "300"))
SPECS = sorted(p.relative_to(REPO) for p in (REPO / "exercises").glob("*/exercise.yml"))
SCALARS = ["[]", "{}", "1", "-3", "true", "null", "~", '"x{y}"', '"{registry"', "../..",
           "/etc/passwd", "'{nope}'", "[a, [b]]", "{a: {b: c}}", "0x1F", "1e9", '"é\\u0000"',
           "&a x", "*a", "!!python/object:os.system x", "x" * 300, "'@sha256:'", "-"]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[Path, str]:
    spec = draw(st.sampled_from(SPECS))
    lines = (REPO / spec).read_text().splitlines()
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "text", "scalar", "key", "indent",
                                   "swap"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "text":
            lines[i] = draw(st.text(max_size=40))
        elif op == "scalar" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {draw(st.sampled_from(SCALARS))}"
        elif op == "key":
            indent = " " * draw(st.sampled_from([0, 2, 4, 6]))
            name = draw(st.sampled_from(["tga", "run", "build", "push", "network", "detach",
                                         "ports", "ready", "from_lock", "recipe", "after",
                                         "expect", "env", "x"]))
            lines.insert(i, f"{indent}{name}: {draw(st.sampled_from(SCALARS))}")
        elif op == "indent":
            lines[i] = (" " * draw(st.sampled_from([0, 1, 2, 4]))) + lines[i].lstrip()
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return spec, "\n".join(lines) + "\n"


def test_fuzzed_specs_never_traceback() -> None:
    work = Path(tempfile.mkdtemp(prefix="ac295-fuzz-"))
    root = work / "ac295"
    copy_project(root)
    tracebacks: list[str] = []
    kinds: set[str] = set()
    counts = {"clean": 0, "spec error": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutations())
    def one(mutation: tuple[Path, str]) -> None:
        spec, text = mutation
        target = root / spec
        original = target.read_text()
        target.write_text(text, errors="surrogatepass")
        try:
            project.load(root, environ={})
            counts["clean"] += 1
        except Ac295Error as err:
            counts["spec error"] += 1
            if "\n" in str(err):  # not one paragraph: as bad as a traceback for a user
                tracebacks.append(f"{spec}: multi-line error\n{err}")
                kinds.add("multi-line: " + str(err)[:150])
        except Exception:  # noqa: BLE001 - this is what the test counts
            tracebacks.append(f"{spec}:\n{text}\n{traceback.format_exc()}")
            kinds.add(traceback.format_exc().strip().splitlines()[-3].strip() + " | "
                      + "".join(traceback.format_exception_only(*sys.exc_info()[:2]))[:150])
        finally:
            target.write_text(original)

    try:
        one()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"FIGURE fuzzed specs: {EXAMPLES} mutations, {counts['clean']} loaded, "
          f"{counts['spec error']} spec errors, {len(tracebacks)} tracebacks")
    assert not tracebacks, "\n".join(sorted(kinds)) + "\n\n" + tracebacks[0]
