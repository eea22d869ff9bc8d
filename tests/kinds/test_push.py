"""The push kind's decisions on a fake engine: tag or not, push or not, and the content tag
(pushed beside the image's own tag, so that a clone with no records finds it by its inputs).

The oracles are literals: the references and digests a push must ask for, written here.
"""
from __future__ import annotations

from typing import Any

import pytest

from helpers import DIGEST, WHERE, record, runtime
from tasks.engine import images
from tasks.kinds import KINDS, push, records
from tasks.kinds.actions import Action
from tasks.kinds.base import TaskContext
from tasks.kinds.push import PushStep
from tasks.kinds.runtime import Runtime
from tasks.dsl.model import Exercise

REF = "127.0.0.1:5000/me/app:1"
INPUTS = "sha256:" + "0123456789ab" + "f" * 52
#: The content tag of REF for INPUTS: the repository, "in-" and 12 hex digits of the inputs.
CONTENT = "127.0.0.1:5000/me/app:in-0123456789ab"
PUSHED = "sha256:" + "d" * 64  # what a push reports
STEP = PushStep(exercise="ex", name="publish", doc="", after=(), where=WHERE, image="image",
                tag=None)


def setup(tmp_path, monkeypatch, served: dict[str, str | None], tags: list[str],
          repo_digests: list[str] | None = None, inputs: str | None = INPUTS):
    """A built image ``ex:image`` (sha256:app) and a registry that serves ``served``."""
    image = {"Id": "sha256:app", "RepoTags": tags, "RepoDigests": repo_digests or []}
    rt, api = runtime(tmp_path, [image])
    record(rt, "ex:image", content_digest=DIGEST)
    notes: dict[str, Any] = {"task": "ex:image", "image_id": "sha256:app"}
    if inputs:
        notes["inputs_digest"] = inputs
    records.write(records.local_of(rt.record_path("ex:image")), notes)
    asked: list[str] = []
    monkeypatch.setattr(Runtime, "served_digest",
                        lambda self, ref: asked.append(ref) or served.get(ref))
    api.push.side_effect = lambda repo, tag, stream, decode: iter(
        [{"status": "Pushed", "id": "l1"}, {"aux": {"Tag": tag, "Digest": PUSHED}}])
    return rt, api, asked


def pushed_refs(api) -> list[tuple[str, str]]:
    return [(c.args[0], c.kwargs["tag"]) for c in api.push.call_args_list]


def test_the_content_tag_is_the_repository_and_12_hex_of_the_inputs():
    assert images.content_tag(REF, INPUTS) == CONTENT
    assert images.content_tag("me/app", "sha256:abcdef0123456789") == "me/app:in-abcdef012345"
    assert images.content_tag("127.0.0.1:5000/a/b:c", "abc") == "127.0.0.1:5000/a/b:in-abc"


def test_a_new_image_is_tagged_pushed_and_its_content_tag_pushed_too(tmp_path, monkeypatch):
    rt, api, asked = setup(tmp_path, monkeypatch, served={}, tags=[])
    assert Action(push.run)(rt, STEP, REF) is None
    assert pushed_refs(api) == [("127.0.0.1:5000/me/app", "1"),
                                ("127.0.0.1:5000/me/app", "in-0123456789ab")]
    assert [c.args for c in api.tag.call_args_list] == [
        ("sha256:app", "127.0.0.1:5000/me/app", "1"),
        ("sha256:app", "127.0.0.1:5000/me/app", "in-0123456789ab")]
    assert asked == [REF, CONTENT]
    kept = records.read(rt.record_path(STEP.task))
    assert {k: kept[k] for k in kept if k != "schema"} == {"task": STEP.task,
                                                           "content_digest": DIGEST}
    notes = records.read(records.local_of(rt.record_path(STEP.task)))
    assert {k: notes[k] for k in notes if k != "schema"} == {
        "task": STEP.task, "ref": REF, "image_id": "sha256:app", "digest": PUSHED}


def test_an_image_the_registry_already_serves_is_not_pushed_again(tmp_path, monkeypatch):
    served = {REF: DIGEST, CONTENT: DIGEST}
    rt, api, asked = setup(tmp_path, monkeypatch, served, tags=[REF],
                           repo_digests=[f"127.0.0.1:5000/me/app@{DIGEST}"])
    assert Action(push.run)(rt, STEP, REF) is None
    api.push.assert_not_called()
    api.tag.assert_not_called()  # the tag was there
    assert asked == [REF, CONTENT]
    assert records.read(records.local_of(rt.record_path(STEP.task)))["digest"] == DIGEST


def test_a_digest_the_engine_knows_from_another_repository_is_not_enough(tmp_path,
                                                                        monkeypatch):
    served = {REF: DIGEST}
    rt, api, _ = setup(tmp_path, monkeypatch, served, tags=[REF],
                       repo_digests=[f"127.0.0.1:5000/other/app@{DIGEST}"])
    assert Action(push.run)(rt, STEP, REF) is None
    assert ("127.0.0.1:5000/me/app", "1") in pushed_refs(api)


def test_another_digest_under_the_tag_is_pushed_over(tmp_path, monkeypatch):
    served = {REF: "sha256:" + "e" * 64, CONTENT: PUSHED}
    rt, api, _ = setup(tmp_path, monkeypatch, served, tags=[REF],
                       repo_digests=[f"127.0.0.1:5000/me/app@{DIGEST}"])
    assert Action(push.run)(rt, STEP, REF) is None
    assert pushed_refs(api) == [("127.0.0.1:5000/me/app", "1")]  # the content tag was there
    assert records.read(records.local_of(rt.record_path(STEP.task)))["digest"] == PUSHED


def test_a_pulled_image_has_no_content_tag(tmp_path, monkeypatch):
    rt, api, asked = setup(tmp_path, monkeypatch, served={}, tags=[REF], inputs=None)
    assert Action(push.run)(rt, STEP, REF) is None
    assert pushed_refs(api) == [("127.0.0.1:5000/me/app", "1")]
    assert asked == [REF]


def test_a_push_whose_image_step_never_ran_says_which_to_run(tmp_path, monkeypatch):
    rt, api, _ = setup(tmp_path, monkeypatch, served={}, tags=[])
    records.remove(rt.record_path("ex:image"))
    result = Action(push.run)(rt, STEP, REF)
    assert result.message == "ex:publish: step 'image' has no record; run it first."
    api.push.assert_not_called()
    assert records.read(rt.record_path(STEP.task)) is None


def test_the_task_pushes_the_image_steps_own_reference_or_its_tag(tmp_path):
    rt, _ = runtime(tmp_path, [])
    image = type("Image", (), {"image_ref": REF})()
    exercise = Exercise("ex", "", tmp_path, tmp_path / "exercise.yml", {"image": image})
    assert push.push_ref(STEP, exercise) == REF
    tagged = PushStep(exercise="ex", name="publish", doc="", after=(), where=WHERE,
                      image="image", tag="127.0.0.1:5000/me/other:2")
    assert push.push_ref(tagged, exercise) == "127.0.0.1:5000/me/other:2"
    task = KINDS.of(STEP).task(tagged, TaskContext(rt=rt, exercise=exercise))
    (function, args), = task["actions"]
    assert function.function is push.run and args == (rt, tagged, "127.0.0.1:5000/me/other:2")
    check, = task["uptodate"]
    assert check.function is push.uptodate and check.args == (rt, tagged,
                                                               "127.0.0.1:5000/me/other:2")
    assert KINDS.of(STEP).makes(tagged, exercise).pushes == ("127.0.0.1:5000/me/other:2",)


@pytest.mark.parametrize("before, now, said", [
    ("127.0.0.1:5000/me/app:1", "127.0.0.1:5001/me/app:1",
     "the registry moved (127.0.0.1:5000 -> 127.0.0.1:5001): "),
    ("127.0.0.1:5000/me/app:1", "127.0.0.1:5000/me/app:2", ""),
    ("", "127.0.0.1:5000/me/app:1", ""),
])
def test_a_moved_registry_is_named_in_the_reason(before, now, said):
    assert push.moved(before, now) == said
