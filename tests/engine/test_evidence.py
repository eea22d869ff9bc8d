"""What a failed step keeps: its name, its labels, one per step, against a spec'd fake client."""
from __future__ import annotations

import json
from unittest import mock

import docker.errors
import pytest
import requests
from docker.models.containers import Container, ContainerCollection

from helpers import fake_engine
from tasks.engine import containers, evidence, images
from tasks.engine.client import LABEL_MADE, LABEL_PROJECT, LABEL_TASK
from tasks.engine.containers import Outcome
from tasks.engine.evidence import LABEL_FAILED, LABEL_RERUN, Keep
from tasks.errors import BuildError, CommandFailed, EngineError

PROJECT = "/p/.ac295"


@pytest.mark.parametrize("prefix, task, name", [
    ("", "exercise2:question", "ac295-failed:exercise2.question"),
    ("shl-", "exercise2:question", "shl-ac295-failed:exercise2.question"),
    ("Me_", "grade:check.maggie", "me_ac295-failed:grade.check.maggie"),  # lower case
    ("x-", "ex:step with spaces/and:colons", "x-ac295-failed:ex.step-with-spaces-and-colons"),
    ("-", "ex:s", "ac295-failed:ex.s"),  # a repository cannot start with "-"
])
def test_the_evidence_is_named_with_the_prefix_and_the_task(prefix, task, name):
    assert evidence.reference(prefix, task) == name


def test_a_long_task_still_makes_a_valid_tag():
    tag = evidence.reference("", "ex:" + "s" * 300).split(":", 1)[1]
    assert len(tag) == 128 and tag.startswith("ex.s")


def test_the_evidence_changes_label_it_and_empty_the_made_label():
    found = evidence.changes("ex:q", PROJECT, 'exit code 1;\nstdout "x"', True)
    assert found == [f'LABEL {LABEL_MADE}=""', f'LABEL {LABEL_TASK}="ex:q"',
                     f'LABEL {LABEL_PROJECT}="{PROJECT}"',
                     f"LABEL {LABEL_FAILED}=\"exit code 1; stdout 'x'\"",
                     f'LABEL {LABEL_RERUN}="1"']


def test_a_failed_instruction_becomes_the_evidences_command():
    command = ["/bin/sh", "-c", 'make "a"']
    found = evidence.changes("ex:image", PROJECT, "RUN make", True, command)
    assert found[-2:] == ["ENTRYPOINT []", "CMD " + json.dumps(command)]
    assert f'LABEL {LABEL_RERUN}=""' in evidence.changes("ex:image", PROJECT, "COPY", False)


def listing(task: str, created: int, name: str = "", what: str = "exit code 1") -> dict:
    return {"Id": f"sha256:{task}-{created}", "RepoTags": [name] if name else None,
            "Created": created, "Labels": {LABEL_FAILED: what, LABEL_TASK: task,
                                           LABEL_PROJECT: PROJECT, LABEL_RERUN: "1"}}


def test_the_newest_evidence_of_the_task_is_found():
    engine, client = fake_engine([listing("ex:q", 1), listing("ex:q", 3, "ac295-failed:ex.q")],
                                 PROJECT)
    found = evidence.find(engine, "ex:q")
    assert found == evidence.Evidence("sha256:ex:q-3", "ex:q", "exit code 1", True,
                                      "ac295-failed:ex.q", 3)
    wanted = client.api.images.call_args.kwargs["filters"]["label"]
    assert sorted(wanted) == sorted([LABEL_FAILED, f"{LABEL_PROJECT}={PROJECT}",
                                     f"{LABEL_TASK}=ex:q"])


def test_an_image_that_only_inherited_an_empty_label_is_no_evidence():
    engine, _ = fake_engine([listing("ex:q", 1, what="")], PROJECT)
    assert evidence.find(engine, "ex:q") is None


def test_clearing_finds_the_evidence_by_its_name_and_removes_it():
    engine, client = fake_engine([listing("ex:q", 1, "ac295-failed:ex.q")], PROJECT)
    assert evidence.clear(engine, "ex:q", "ac295-failed:ex.q") is True
    client.api.remove_image.assert_called_once_with("sha256:ex:q-1", force=True, noprune=False)
    client.api.images.assert_not_called()  # one inspect, no listing of the engine's images


@pytest.mark.parametrize("labels", [
    {LABEL_FAILED: "exit code 1", LABEL_TASK: "ex:other", LABEL_PROJECT: PROJECT},
    {LABEL_FAILED: "exit code 1", LABEL_TASK: "ex:q", LABEL_PROJECT: "/another/copy"},
    {LABEL_TASK: "ex:q", LABEL_PROJECT: PROJECT},  # not evidence at all
])
def test_clearing_leaves_an_image_of_that_name_that_is_not_this_steps_evidence(labels):
    image = {"Id": "sha256:x", "RepoTags": ["ac295-failed:ex.q"], "Labels": labels}
    engine, client = fake_engine([image], PROJECT)
    assert evidence.clear(engine, "ex:q", "ac295-failed:ex.q") is False
    client.api.remove_image.assert_not_called()


def test_clearing_nothing_or_one_a_shell_uses_is_no_error():
    engine, client = fake_engine([], PROJECT)
    assert evidence.clear(engine, "ex:q", "ac295-failed:ex.q") is False
    engine, client = fake_engine([listing("ex:q", 1, "ac295-failed:ex.q")], PROJECT)
    client.api.remove_image.side_effect = docker.errors.APIError("in use by a running shell")
    assert evidence.clear(engine, "ex:q", "ac295-failed:ex.q") is False


def test_keeping_a_container_replaces_the_earlier_evidence_and_commits_under_the_name():
    engine, client = fake_engine([listing("ex:q", 1, "shl-ac295-failed:ex.q")], PROJECT)
    client.api.commit.return_value = {"Id": "sha256:kept"}
    kept = evidence.keep_container(engine, "c0ffee", "ex:q", "shl-ac295-failed:ex.q",
                                   "exit code 1", lambda line: None)
    assert kept == "sha256:kept"
    client.api.remove_image.assert_called_once_with("sha256:ex:q-1", force=True, noprune=False)
    kwargs = client.api.commit.call_args.kwargs
    assert client.api.commit.call_args.args == ("c0ffee",)
    assert (kwargs["repository"], kwargs["tag"]) == ("shl-ac295-failed", "ex.q")
    assert f'LABEL {LABEL_FAILED}="exit code 1"' in kwargs["changes"]
    assert "CMD" not in " ".join(kwargs["changes"])  # the container's own command stays


def test_a_refused_commit_is_said_and_does_not_fail_the_step():
    engine, client = fake_engine([], PROJECT)
    client.api.commit.side_effect = docker.errors.APIError("no space left on device")
    lines: list[str] = []
    assert evidence.keep_container(engine, "c0ffee", "ex:q", "ac295-failed:ex.q", "x",
                                   lines.append) is None
    assert "could not be kept" in lines[0] and "no space left" in lines[0]


def test_a_layer_is_kept_through_a_container_that_never_starts():
    engine, client = fake_engine([], PROJECT)
    client.api.create_container.return_value = {"Id": "holder"}
    client.api.commit.return_value = {"Id": "sha256:kept"}
    keep = Keep("ex:image", "ac295-failed:ex.image", lambda outcome: "")
    assert keep.layer(engine, "bbbb", "the build failed at Step 3/3 : RUN make",
                      ["/bin/sh", "-c", "make"], lambda line: None) == "sha256:kept"
    assert client.api.create_container.call_args.args == ("bbbb",)
    assert client.api.create_container.call_args.kwargs["labels"] == {
        LABEL_TASK: "ex:image", LABEL_PROJECT: PROJECT}
    changes = client.api.commit.call_args.kwargs["changes"]
    assert f'CMD {json.dumps(["/bin/sh", "-c", "make"])}' in changes
    client.api.remove_container.assert_called_once_with("holder", force=True)
    client.api.start.assert_not_called()


# --- what the container and build functions keep -----------------------------------------

def container_engine(status: int, stdout: bytes = b"") -> tuple[mock.Mock, mock.Mock, object]:
    engine, client = fake_engine([], PROJECT)
    container = mock.Mock(spec=Container, id="c0ffee")
    container.wait.return_value = {"StatusCode": status}
    container.logs.return_value = stdout
    container.attach.return_value = iter([(stdout, None)] if stdout else [])  # a run's output
    client.containers = mock.Mock(spec=ContainerCollection)
    client.containers.create.return_value = container
    client.containers.list.return_value = []
    client.api.commit.return_value = {"Id": "sha256:kept"}
    return client, container, engine


def judge(outcome: Outcome) -> str:
    return "" if outcome.exit_code == 0 else f"exit code {outcome.exit_code}"


@pytest.mark.parametrize("status, kept", [(0, False), (1, True)])
def test_a_run_keeps_its_container_only_when_its_outcome_fails(status, kept):
    client, container, engine = container_engine(status)
    order: list[str] = []
    client.api.commit.side_effect = lambda *a, **k: order.append("commit") or {"Id": "x"}
    container.remove.side_effect = lambda **k: order.append("remove")
    containers.run_once(engine, "sha256:img", ["q"], {}, 5, {}, "ex:q", lambda line: None,
                        keep=Keep("ex:q", "ac295-failed:ex.q", judge))
    assert order == (["commit", "remove"] if kept else ["remove"])


def test_a_run_that_times_out_is_kept_before_it_is_removed():
    client, container, engine = container_engine(0)
    container.wait.side_effect = requests.exceptions.ReadTimeout()
    with pytest.raises(EngineError, match="did not finish"):
        containers.run_once(engine, "sha256:img", ["q"], {}, 5, {}, "ex:q", lambda line: None,
                            keep=Keep("ex:q", "ac295-failed:ex.q", judge))
    assert LABEL_FAILED + '="it did not finish in time"' in \
        " ".join(client.api.commit.call_args.kwargs["changes"])
    container.remove.assert_called_once_with(force=True)


def test_a_run_without_keep_commits_nothing():
    client, _, engine = container_engine(1)
    containers.run_once(engine, "sha256:img", ["q"], {}, 5, {}, "ex:q", lambda line: None)
    client.api.commit.assert_not_called()


def test_a_commit_whose_commands_fail_keeps_its_container():
    client, container, engine = container_engine(2, b"oops\n")
    def inspect_image(ref: str) -> dict:
        if ref != "sha256:src":  # no evidence of an earlier failure
            raise docker.errors.ImageNotFound(f"No such image: {ref}")
        return {"Id": ref, "Config": {}}

    client.api.inspect_image.side_effect = inspect_image
    with pytest.raises(CommandFailed):
        containers.commit(engine, "sha256:src", ["false"], "me/x:1", 5, {}, {}, "ex:modify",
                          "Fix it.", lambda line: None,
                          keep=Keep("ex:modify", "ac295-failed:ex.modify",
                                    lambda o: f"a command failed (exit code {o.exit_code})"))
    assert client.api.commit.call_args.args == ("c0ffee",)
    container.remove.assert_called_once_with(force=True)
    container.commit.assert_not_called()  # the image itself was not committed


@pytest.mark.parametrize("step, command", [
    ("Step 3/4 : RUN make all", ["/bin/sh", "-c", "make all"]),
    ('Step 3/4 : RUN ["python3", "-m", "build"]', ["python3", "-m", "build"]),
    ("Step 3/4 : run  echo lower case", ["/bin/sh", "-c", "echo lower case"]),
    ('Step 3/4 : RUN [not json', ["/bin/sh", "-c", "[not json"]),
    ("Step 2/4 : COPY . /app", None),
    ("", None),
])
def test_the_command_of_a_failed_build_step(step, command):
    assert images.failed_command(step) == command


def test_a_failed_build_keeps_the_last_layer_it_reached(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM base\n")
    engine, client = fake_engine([], PROJECT)
    client.api.build.return_value = iter([
        {"stream": "Step 1/3 : FROM base\n"}, {"stream": " ---> 0123456789ab\n"},
        {"stream": "Step 2/3 : COPY . /app\n"}, {"stream": " ---> Using cache\n"},
        {"stream": " ---> aaaaaaaaaaaa\n"},
        {"stream": "Step 3/3 : RUN make\n"}, {"stream": " ---> Running in 55555\n"},
        {"error": "The command '/bin/sh -c make' returned a non-zero code: 2"}])
    keep = mock.Mock(spec=Keep)
    with pytest.raises(BuildError):
        images.build(engine, tmp_path, tmp_path / "Dockerfile", "me/app:1", {}, {}, "ex:image",
                     lambda line: None, keep=keep)
    keep.layer.assert_called_once_with(engine, "aaaaaaaaaaaa",
                                       "the build failed at Step 3/3 : RUN make",
                                       ["/bin/sh", "-c", "make"], mock.ANY)


def test_a_build_that_fails_before_any_layer_keeps_nothing(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM nosuch\n")
    engine, client = fake_engine([], PROJECT)
    client.api.build.return_value = iter([{"stream": "Step 1/1 : FROM nosuch\n"},
                                          {"error": "pull access denied for nosuch"}])
    keep = mock.Mock(spec=Keep)
    with pytest.raises(BuildError):
        images.build(engine, tmp_path, tmp_path / "Dockerfile", "me/app:1", {}, {}, "ex:image",
                     lambda line: None, keep=keep)
    keep.layer.assert_not_called()


def test_prune_lists_every_kept_state_of_this_copy_with_its_own_size():
    from tasks.engine import garbage

    kept = listing("ex:q", 2, "ac295-failed:ex.q")
    kept["Size"] = 150_000_500
    base = {"Id": "sha256:base", "RepoTags": ["me/app:1"], "Size": 150_000_000}
    engine, client = fake_engine([kept, base], PROJECT)
    client.api.images.side_effect = lambda filters: [kept]  # the engine's label filter
    client.api.history.return_value = [{"Id": kept["Id"]}, {"Id": "sha256:base"}]
    found = garbage.kept_evidence(engine)
    assert [(g.kind, g.ident, g.name, g.size, g.task) for g in found] == \
        [("image", "sha256:ex:q-2", "ac295-failed:ex.q", 500, "ex:q")]


def test_the_failure_a_run_keeps_is_its_unmet_expectations():
    from tasks.kinds.commit import failed_commands
    from tasks.kinds.expect import Expect, unmet

    expect = Expect(exit_code=0, stdout=("^Answer: 2640$",))
    assert unmet(expect, Outcome(0, "Answer: 2640\n", "")) == ""
    assert unmet(expect, Outcome(1, "Answer: 1\n", "")) == \
        "exit code 1, expected 0; stdout does not match /^Answer: 2640$/"
    assert failed_commands(Outcome(0, "", "")) == ""
    assert failed_commands(Outcome(2, "", "")) == "a command failed (exit code 2)"
