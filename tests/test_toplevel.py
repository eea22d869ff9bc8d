"""The project's own tasks without an engine: `lock` writes the facts of the steps that keep
some, `verify` fails with the project's differences (doit exits 1) or with the archive's only
(exit 2) and says how to accept them, a difference downstream of a moved archive is traced
through every step between, and `prune` keeps what the records and the lock name.

The oracles are literals and the test's own hashes, never the functions under test.
"""
from __future__ import annotations

import hashlib
import json

import pytest
from doit.exceptions import TaskError, TaskFailed

from helpers import fake_client, load, write_project
from tasks import toplevel
from tasks.dsl.config import Config
from tasks.engine.client import LABEL_MADE, Engine
from tasks.errors import ArchiveMoved, LockError
from tasks.kinds import KINDS, records
from tasks.kinds.actions import Action
from tasks.kinds.runtime import Runtime

# a -> b -> c: each recipe reads the file the one before made; d is phony (no lock entry);
# e reads nothing
CHAIN = {
    "exercises/ex/exercise.yml": """\
        doc: a chain of recipes
        steps:
          a: {sh: "echo a > a.txt", targets: [a.txt]}
          b: {sh: "cat a.txt > b.txt", deps: [a.txt], targets: [b.txt]}
          c: {sh: "cat b.txt > c.txt", deps: [b.txt], targets: [c.txt]}
          d: {sh: "true"}
          e: {sh: "echo e > e.txt", targets: [e.txt]}
        """,
}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def chain(tmp_path):
    root = write_project(tmp_path / "proj", CHAIN)
    exercises = list(load(root).values())
    folder = root / "exercises" / "ex"
    for name, text in (("a", b"a\n"), ("b", b"a\n"), ("c", b"a\n"), ("e", b"e\n")):
        (folder / f"{name}.txt").write_bytes(text)
    client = fake_client([])
    cfg = Config(root=root, state=root / ".ac295", variables={"registry": "127.0.0.1:5000"})
    rt = Runtime(cfg, engine=Engine(factory=lambda: client))
    steps = toplevel.locked_steps(KINDS, exercises)
    return rt, exercises, steps, root


def test_the_lock_holds_the_locking_steps_facts_hashed(chain, capsys):
    rt, exercises, steps, root = chain
    assert [s.task for s in steps] == ["ex:a", "ex:b", "ex:c", "ex:e"]  # not the phony d
    assert Action(toplevel.write_lock)(rt, KINDS, steps) is None
    lock = json.loads((root / "ac295.lock").read_text())
    assert lock == {"schema": 2, "steps": {"ex:a": {"a.txt": sha(b"a\n")},
                                           "ex:b": {"b.txt": sha(b"a\n")},
                                           "ex:c": {"c.txt": sha(b"a\n")},
                                           "ex:e": {"e.txt": sha(b"e\n")}}}
    assert "ac295.lock: 4 step(s) locked" in capsys.readouterr().out


def test_verify_passes_on_the_same_results(chain, capsys):
    rt, exercises, steps, root = chain
    toplevel.write_lock(rt, KINDS, steps)
    assert Action(toplevel.verify_lock)(rt, KINDS, steps, exercises) is None
    assert capsys.readouterr().out.splitlines()[-1] == "4 step(s) match ac295.lock"


def test_the_projects_difference_fails_with_exit_1_and_says_how_to_accept_it(chain):
    rt, exercises, steps, root = chain
    toplevel.write_lock(rt, KINDS, steps)
    (root / "exercises/ex/b.txt").write_bytes(b"b\n")
    result = Action(toplevel.verify_lock)(rt, KINDS, steps, exercises)
    assert type(result) is TaskFailed  # doit exits 1
    was, now = sha(b"a\n"), sha(b"b\n")
    assert result.message == (
        "1 difference(s) from ac295.lock (accept this machine's results with `doit lock`):\n"
        f"ex:b b.txt: lock {was}, here {now}")


def archive_facts(monkeypatch, here_a: list[str], c_text: str) -> None:
    """Step a reports a package manifest (a debootstrap's), c a file digest."""
    def current(rt, kinds, steps):
        return {"ex:a": {"manifest": here_a}, "ex:b": {"b.txt": "sha256:b"},
                "ex:c": {"c.txt": c_text}, "ex:e": {"e.txt": "sha256:e"}}

    monkeypatch.setattr(toplevel, "current", current)


def test_a_moved_archive_alone_fails_with_exit_2_traced_through_each_step(chain,
                                                                         monkeypatch):
    rt, exercises, steps, root = chain
    archive_facts(monkeypatch, ["python3=3.11.2-6"], "sha256:c")
    toplevel.write_lock(rt, KINDS, steps)
    archive_facts(monkeypatch, ["python3=3.11.2-6+deb12u1"], "sha256:c2")
    result = Action(toplevel.verify_lock)(rt, KINDS, steps, exercises)
    assert type(result) is TaskError  # doit exits 2: not the project's fault
    assert result.message == (
        "2 difference(s) from ac295.lock (all from Debian's archive having moved since the "
        "lock was written; accept them with `doit lock`):\n"
        "ex:a: python3 3.11.2-6 -> 3.11.2-6+deb12u1 (the archive changed)\n"
        # c reads b, which reads a: upstream is transitive
        "ex:c c.txt: lock sha256:c, here sha256:c2 (follows from ex:a)")


def test_the_archive_and_the_project_together_are_the_projects_exit_1(chain, monkeypatch):
    rt, exercises, steps, root = chain
    archive_facts(monkeypatch, ["python3=1"], "sha256:c")
    toplevel.write_lock(rt, KINDS, steps)

    def current(rt, kinds, steps):
        return {"ex:a": {"manifest": ["python3=2"]}, "ex:b": {"b.txt": "sha256:b"},
                "ex:c": {"c.txt": "sha256:c"}, "ex:e": {"e.txt": "sha256:e", "extra": 1}}

    monkeypatch.setattr(toplevel, "current", current)
    with pytest.raises(LockError) as err:
        toplevel.verify_lock(rt, KINDS, steps, exercises)
    assert not isinstance(err.value, ArchiveMoved)
    # e reads nothing of a: its difference is the project's; a field only one side has is a
    # difference (the missing side said as null)
    assert str(err.value).splitlines() == [
        "2 difference(s) from ac295.lock (accept this machine's results with `doit lock`):",
        "ex:a: python3 1 -> 2 (the archive changed)",
        "ex:e extra: lock null, here 1"]


def test_a_step_only_on_one_side_is_a_difference(chain, monkeypatch):
    rt, exercises, steps, root = chain
    toplevel.write_lock(rt, KINDS, steps)
    lock = json.loads((root / "ac295.lock").read_text())
    lock["steps"]["ex:gone"] = {"x": 1}
    del lock["steps"]["ex:c"]
    (root / "ac295.lock").write_text(json.dumps(lock))
    with pytest.raises(LockError) as err:
        toplevel.verify_lock(rt, KINDS, steps, exercises)
    assert str(err.value).splitlines()[1:] == ["ex:c: not in the lock",
                                               "ex:gone: in the lock, not in this project"]


def test_verify_without_a_lock_says_to_write_one(chain):
    rt, exercises, steps, root = chain
    result = Action(toplevel.verify_lock)(rt, KINDS, steps, exercises)
    assert type(result) is TaskFailed
    assert result.message == "no ac295.lock: run `doit lock` to write one."


# --- prune ---------------------------------------------------------------------------------

def made(image_id: str, inputs: str, created: int, project: str) -> dict:
    return {"Id": image_id, "RepoTags": [f"me/app:{image_id[-1]}"], "Created": created,
            "Size": 100, "Labels": {LABEL_MADE: f"{inputs} ex:a {project}"}}


def test_prune_keeps_what_the_lock_and_the_records_name(chain, capsys):
    rt, exercises, steps, root = chain
    project = str(rt.config.state)
    listing = [made("sha256:1", "sha256:in1", 1, project),   # named by the lock
               made("sha256:2", "sha256:in2", 2, project),   # named by a record's notes
               made("sha256:3", "sha256:in3", 3, project),   # spare: goes with keep=0
               made("sha256:4", "sha256:in4", 4, "/another/copy")]  # not this copy's
    client = fake_client(listing)
    client.api.history.return_value = [{"Id": "x"}]
    client.containers.list.return_value = []
    client.networks.list.return_value = []
    client.volumes = type("Volumes", (), {"list": staticmethod(lambda filters: [])})()
    rt = Runtime(rt.config, engine=Engine(factory=lambda: client))
    (root / "ac295.lock").write_text(json.dumps(
        {"schema": 2, "steps": {"ex:a": {"inputs_digest": "sha256:in1"}}}))
    records.write(records.local_of(rt.record_path("ex:a")),
                  {"task": "ex:a", "image_id": "sha256:2"})
    toplevel.prune(rt, KINDS, exercises, dry_run=True, keep=0)
    out = capsys.readouterr().out.splitlines()
    assert out == ["would remove image me/app:3 (sha256:3, 100 B; ex:a)",
                   "1 thing(s) to remove, 100 B of images (keeping the 0 newest unused "
                   "image(s) of each step); run without --dry-run to remove them"]
    client.api.remove_image.assert_not_called()
    toplevel.prune(rt, KINDS, exercises, dry_run=False, keep=0)
    client.api.remove_image.assert_called_once_with("sha256:3", force=True, noprune=False)
