"""Bounded disk: thirty edits of exercise 2 leave thirty images; `doit prune` keeps the one in
use and the K newest others (K=2 by default, so that a revert is still instant)."""
from __future__ import annotations

import uuid

from clones import clone


def _made_for(engine, project, task: str) -> list:
    label = "org.ac295.made"
    return [i for i in engine.images.list(filters={"label": label})
            if i.labels[label].split(" ", 2)[1:] == [task, str(project.state.resolve())]]


def test_thirty_edits_then_prune_leave_k_plus_one(tmp_path, make_registry, engine):
    project = clone(tmp_path, make_registry().host)
    question = project.root / "exercises/exercise2/Question.py"
    original = question.read_text()
    # edits no earlier run made: an image of the same content made by another copy of the
    # project (a previous session's) would be reused, not made again
    token = uuid.uuid4().hex
    for n in range(30):
        question.write_text(original + f"\n# edit {n} {token}\n")
        project.doit("exercise2:image")
    before = len(_made_for(engine, project, "exercise2:image"))
    assert before == 30
    dry = project.doit("prune", "--dry-run")
    planned = [line for line in dry.stdout.splitlines() if line.startswith("would remove image")]
    assert len(planned) == 27 and len(_made_for(engine, project, "exercise2:image")) == 30
    print("FIGURE prune --dry-run: " + " | ".join(dry.stdout.splitlines()[-3:]))
    project.doit("prune")
    left = _made_for(engine, project, "exercise2:image")
    assert len(left) == 3  # K + 1
    current = project.local("exercise2:image")["image_id"]
    assert current in {i.id for i in left}
    assert project.doit("exercise2:image").executed == []  # the one in use is still there
    question.write_text(original + f"\n# edit 28 {token}\n")  # a revert to a kept variant: instant
    assert "Successfully built" not in project.doit("exercise2:image").stdout
    print(f"FIGURE bounded disk: {before} images of exercise2:image after 30 edits, "
          f"{len(left)} after prune (K=2)")
