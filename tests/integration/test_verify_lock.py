"""`doit lock` writes ac295.lock; `doit verify` passes on a matching tree and names the exact
mismatch after one input changes."""
from __future__ import annotations

import json


def test_verify_passes_then_names_the_mismatch(project) -> None:
    project.doit("lock")
    lock = json.loads((project.root / "ac295.lock").read_text())
    steps = lock["steps"]
    assert steps["exercise2:image"]["inputs_digest"].startswith("sha256:")
    assert steps["base:image"]["image_id"].startswith("sha256:")
    assert steps["venv:maggie"]["lock"].startswith("sha256:")
    assert steps["exercise2:push"]["ref"].endswith("/ac295_playground:exercise2")
    run = project.doit("verify")
    assert "match ac295.lock" in run.stdout

    question = project.root / "exercises/exercise2/Question.py"
    question.write_text(question.read_text() + "\n# one changed input\n")
    run = project.doit("verify", check=False)
    assert run.returncode != 0
    out = run.stdout + run.stderr
    lines = [line for line in out.splitlines() if line.startswith(("exercise2:", "base:"))
             and ": lock " in line]
    changed = sorted(line.split(":", 2)[0] + ":" + line.split(":", 2)[1].split()[0]
                     for line in lines)
    assert "exercise2:image" in changed and "exercise2:push" in changed
    assert not [line for line in lines if line.startswith("base:")]
    assert "Traceback" not in out
