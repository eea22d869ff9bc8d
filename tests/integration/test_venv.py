"""The virtual-environment rung on real virtualenvs and a real image.

Maggie's env, John's env from her lock, John's update, Maggie's update from his lock, and the
image installed offline from a wheelhouse of the same lock: one pip freeze everywhere.
"""
from __future__ import annotations

import json
import subprocess

ENV_STEPS = {"venv:maggie", "venv:john", "venv:john-adds", "venv:maggie-updates"}
ALL = ENV_STEPS | {"venv:experiment", "venv:wheels", "venv:image", "venv:image-freeze",
                   "venv:same-in-image"}


def _record(project, step: str) -> dict:
    return json.loads((project.state / f"records/venv/{step}.json").read_text())


def _freeze(env) -> str:
    out = subprocess.run([str(env / "bin/python"), "-m", "pip", "freeze"], capture_output=True,
                         text=True, check=True).stdout
    return "\n".join(sorted(out.split(), key=str.lower))


def _source_tree(project) -> dict[str, bytes]:
    """Every file under the copy's exercises/ folder, with its bytes."""
    return {str(p.relative_to(project.root)): p.read_bytes()
            for p in sorted((project.root / "exercises").rglob("*")) if not p.is_dir()}


def test_same_freeze_in_every_environment_and_in_the_image(project) -> None:
    before = _source_tree(project)
    run = project.doit("venv")  # (an earlier test may have run every exercise already)
    # what the run made (environments, locks, the wheelhouse) is in the state folder only
    assert _source_tree(project) == before
    assert not [name for name in before if "wheel" in name or ".partial" in name]
    assert (project.state / "venv/wheelhouse/requirements.lock").is_file()
    assert any(project.state.glob("venv/wheelhouse/tabulate-0.9.0-*.whl"))
    assert ALL <= set(run.executed) | set(run.skipped)
    venvs = project.state / "venvs"
    maggie, john = _freeze(venvs / "maggie/env_ac295"), _freeze(venvs / "john/env_ac295")
    assert maggie == john == "tabulate==0.9.0"
    updated = {_freeze(venvs / "john/env_ac295_v2"), _freeze(venvs / "maggie/env_ac295_v2")}
    assert updated == {"more-itertools==10.5.0\ntabulate==0.9.0"}
    image = _record(project, "image-freeze")["stdout"].split()
    assert sorted(image, key=str.lower) == ["more-itertools==10.5.0", "tabulate==0.9.0"]
    lock = (project.state / "venv/env_ac295_v2.lock").read_text()
    assert "more-itertools==10.5.0" in lock and "--hash=sha256:" in lock
    assert "total: 5050" in (project.state / "venv/result.txt").read_text()


def test_second_run_executes_nothing(project) -> None:
    run = project.doit("venv")
    assert run.executed == []
    assert ALL <= set(run.skipped)


def test_editing_johns_spec_reruns_exactly_his_env_hers_and_the_image(project) -> None:
    spec = project.root / "exercises/venv/environment-john.yml"
    spec.write_text(spec.read_text().replace("more-itertools==10.5.0", "more-itertools==10.4.0"))
    run = project.doit("venv")
    assert set(run.executed) == ALL - {"venv:maggie", "venv:john"}
    assert "more-itertools==10.4.0" in _record(project, "image-freeze")["stdout"]


def test_deleted_environment_is_made_again(project) -> None:
    env = project.state / "venvs/john/env_ac295"
    subprocess.run(["rm", "-rf", str(env)], check=True)
    run = project.doit("venv")
    assert run.executed == ["venv:john"]
    assert _freeze(env) == "tabulate==0.9.0"


def test_half_made_environment_is_not_taken_as_done(project) -> None:
    record = project.state / "records/venv/maggie.json"
    record.unlink()  # what an interrupted creation leaves: a folder, no record
    run = project.doit("venv")
    assert "venv:maggie" in run.executed
    assert record.exists()
