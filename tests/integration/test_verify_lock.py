"""`doit lock` writes ac295.lock by content; `doit verify` passes on a matching tree, names the
exact mismatch after one input changes, and tells a moved Debian archive from the project's
own differences (exit 2 and exit 1)."""
from __future__ import annotations

import hashlib
import json


def _lock(project) -> dict:
    return json.loads((project.root / "ac295.lock").read_text())["steps"]


def test_the_lock_holds_facts_by_content_only(project) -> None:
    project.doit("lock")
    steps = _lock(project)
    base = steps["base:image"]
    assert base["content_digest"].startswith("sha256:")
    assert any(p.startswith("python3=") for p in base["manifest"])
    assert steps["exercise2:image"]["inputs_digest"].startswith("sha256:")
    assert steps["exercise2:push"] == {"content_digest":
                                       steps["exercise2:image"]["content_digest"]}
    assert "Answer: 2640" in steps["exercise2:question"]["stdout"]
    assert steps["venv:maggie"]["lock"].startswith("sha256:")
    # a recipe's lock entry: the sha256 of the file it made, hashed here by the test, and
    # that file says what the lecture says (15 lines with a digit, both ways)
    counts = project.state / "demo1/counts.json"
    assert steps["demo1:compare"] == {
        "counts.json": "sha256:" + hashlib.sha256(counts.read_bytes()).hexdigest()}
    assert json.loads(counts.read_text()) == {"container": 15, "native": 15}
    text = (project.root / "ac295.lock").read_text()
    # nothing of this machine: no engine id, no registry host, no state folder
    for local in ("image_id", project.registry, str(project.state), project.hub_user):
        assert local not in text, local


def test_verify_passes_then_names_the_mismatch(project) -> None:
    project.doit("lock")
    run = project.doit("verify")
    assert "match ac295.lock" in run.stdout
    question = project.root / "exercises/exercise2/Question.py"
    original = question.read_text()
    question.write_text(original + "\n# one changed input\n")
    try:
        run = project.doit("verify", check=False)
        assert run.returncode == 1
        out = run.stdout + run.stderr
        changed = sorted({line.split(" ", 1)[0] for line in out.splitlines()
                          if ": lock " in line})
        # the image and its push, and what pulls that push (if it ran in this session): the
        # check's output stayed the same
        pulls = ["lxc:image", "rootless:file", "rootless:image", "vm:image"]
        assert changed == ["exercise2:image", "exercise2:push"] + [
            task for task in pulls if project.record(task) is not None]
        assert "Traceback" not in out
    finally:
        question.write_text(original)
    assert project.doit("verify").returncode == 0


def test_a_moved_archive_is_told_apart(project) -> None:
    project.doit("lock")
    path = project.root / "ac295.lock"
    data = json.loads(path.read_text())
    manifest = data["steps"]["base:image"]["manifest"]
    index = next(n for n, p in enumerate(manifest) if p.startswith("python3="))
    name, version = manifest[index].split("=", 1)
    manifest[index] = f"{name}=0.0-locked"  # the lock was written when the archive had this
    data["steps"]["base:image"]["content_digest"] = "sha256:" + "0" * 64
    data["steps"]["exercise2:image"]["inputs_digest"] = "sha256:" + "1" * 64
    path.write_text(json.dumps(data))
    run = project.doit("verify", check=False)
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert f"base:image: python3 0.0-locked -> {version} (the archive changed)" in out
    assert "exercise2:image inputs_digest:" in out and "(follows from base:image)" in out
    data["steps"]["venv:maggie"]["lock"] = "sha256:" + "2" * 64  # and one of the project's
    path.write_text(json.dumps(data))
    run = project.doit("verify", check=False)
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    project.doit("lock")
