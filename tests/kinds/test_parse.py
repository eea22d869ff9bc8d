"""Parsing the step kinds pull, commit, network and service runs into frozen dataclasses."""
from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

import helpers
from helpers import spec_error as _spec_error
from tasks.engine.services import Probe
from tasks.errors import SpecError
from tasks.kinds import KINDS
from tasks.kinds.commit import CommitStep
from tasks.kinds.expect import Expect
from tasks.kinds.network import NetworkStep
from tasks.kinds.pull import PullStep
from tasks.kinds.run import RunStep
from tasks.kinds.service import ServiceStep
from tasks.dsl.model import Step

# Steps that the cases below refer to: an image, a network and a recipe (which makes no image).
BASE = """\
doc: d
steps:
  img: {build: ., tag: "{registry}/me/img:1"}
  net: {network: hello}
  rec: {sh: "echo hi"}
"""


def write_project(root: Path, steps: str = "", exercise: str = "ex") -> Path:
    """A project with one exercise: BASE plus ``steps`` (YAML indented as under ``steps:``)."""
    return helpers.write_project(root, {
        f"exercises/{exercise}/Dockerfile": "FROM scratch\n",
        f"exercises/{exercise}/exercise.yml":
            BASE + textwrap.indent(textwrap.dedent(steps), "  ")})


def load(root: Path) -> dict[str, Step]:
    return dict(helpers.load(root)["ex"].steps)


def ephemeral(step: Step) -> bool:
    return bool(KINDS.of(step).ephemeral(step))


def spec_error(root: Path) -> SpecError:
    return _spec_error(root)


def line_of(root: Path, text: str) -> int:
    path = root / "exercises" / "ex" / "exercise.yml"
    hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(hits) == 1, f"{text!r} is not on exactly one line of {path}"
    return hits[0]


# --- valid specs -----------------------------------------------------------------------------

def test_pull_step(tmp_path):
    steps = load(write_project(tmp_path, 'up:\n  pull: "{registry}/prof/l2"\n'))
    pull = steps["up"]
    assert isinstance(pull, PullStep)
    assert (pull.kind, pull.ref, pull.image_ref) == ("pull", "127.0.0.1:5000/prof/l2",
                                                     "127.0.0.1:5000/prof/l2")
    assert not ephemeral(pull)


def test_commit_step(tmp_path):
    root = write_project(tmp_path, """\
        mod:
          commit: img
          commands: echo "{registry}" > /x
          tag: "{registry}/me/mod:1"
        """)
    commit = load(root)["mod"]
    assert isinstance(commit, CommitStep)
    assert commit.image == "img"
    assert commit.commands == ('echo "127.0.0.1:5000" > /x',)  # one string: a 1-tuple
    assert commit.tag == commit.image_ref == "127.0.0.1:5000/me/mod:1"


def test_network_step(tmp_path):
    net = load(write_project(tmp_path))["net"]
    assert isinstance(net, NetworkStep)
    assert (net.kind, net.network, ephemeral(net)) == ("network", "hello", True)


def test_service_run_step(tmp_path):
    root = write_project(tmp_path, """\
        db:
          run: img
          detach: true
          name: "db-x"
          network: net
          aliases: db
          ports: {"8082": 18082, "53/udp": "1053"}
          env: {A: 1, B: "{registry}"}
          ready:
            log: "^up$"
            http: "http://127.0.0.1:18082/"
            timeout: 5
        """)
    db = load(root)["db"]
    # `network:` beside `run:` names the network step; it is not a second kind.
    assert isinstance(db, ServiceStep) and db.kind == "service"
    assert db.image == "img"
    assert ephemeral(db) is True
    assert db.container == "db-x"  # the `name:` key (Docker would refuse a colon in it)
    assert db.name == "db"  # the step's own name is unchanged
    assert db.network == "net"
    assert db.aliases == ("db",)
    assert dict(db.ports) == {"8082": "18082", "53/udp": "1053"}
    assert dict(db.env) == {"A": "1", "B": "127.0.0.1:5000"}
    assert db.ready == Probe(log="^up$", http="http://127.0.0.1:18082/", timeout=5)
    assert db.lines["network"] == line_of(root, "network: net")


def test_ready_defaults_and_one_shot_run_on_a_network(tmp_path):
    steps = load(write_project(tmp_path, """\
        svc: {run: img, detach: true, ready: {log: "listening"}}
        probe: {run: img, network: net}
        """))
    svc = steps["svc"]
    assert isinstance(svc, ServiceStep)
    assert svc.ready == Probe(log="listening", http=None, timeout=60)
    assert svc.container == "ex-svc" and svc.network is None
    probe = steps["probe"]
    assert isinstance(probe, RunStep)
    # on a network it talks to live services: it runs every time, like them
    assert (ephemeral(probe), probe.network, probe.expect) == (True, "net", Expect())
    assert not hasattr(probe, "ready") and not hasattr(probe, "ports")


def test_new_kinds_are_frozen(tmp_path):
    steps = load(write_project(tmp_path, """\
        svc: {run: img, detach: true, ready: {log: x}}
        up: {pull: "a/b:1"}
        """))
    with pytest.raises(dataclasses.FrozenInstanceError):
        steps["svc"].container = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        steps["svc"].ready.timeout = 1  # type: ignore[union-attr,misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        steps["up"].ref = "c/d:2"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        steps["net"].network = "other"  # type: ignore[misc]


# --- broken specs: file, line, dotted key, message ------------------------------------------

@pytest.mark.parametrize("steps, key, marker, message", [
    # service-only keys on a one-shot run
    ("r:\n  run: img\n  name: db\n", "steps.r.name", "name: db", "only for services"),
    ("r:\n  run: img\n  aliases: [db]\n", "steps.r.aliases", "aliases:", "only for services"),
    ('r:\n  run: img\n  ports: {"80": "8080"}\n', "steps.r.ports", "ports:", "detach: true"),
    ("r:\n  run: img\n  detach: false\n  ready: {log: x}\n", "steps.r.ready", "ready:",
     "only for services"),
    # a service has no expect
    ("s:\n  run: img\n  detach: true\n  expect: {exit_code: 0}\n", "steps.s.expect", "expect:",
     "has no 'expect'"),
    # a readiness probe needs something to probe
    ("s:\n  run: img\n  detach: true\n  ready: {timeout: 5}\n", "steps.s.ready", "ready:",
     "needs 'log' or 'http'"),
    ("s:\n  run: img\n  detach: true\n  ready: {lg: x}\n", "steps.s.ready.lg", "ready:",
     "Did you mean 'log'?"),
    # ports that are not numbers
    ('s:\n  run: img\n  detach: true\n  ports: {"80": http}\n', "steps.s.ports", "ports:",
     "with numbers"),
    ('s:\n  run: img\n  detach: true\n  ports: {web: "8080"}\n', "steps.s.ports", "ports:",
     "with numbers"),
    # `network:` of a run must name a network step of the exercise
    ("s:\n  run: img\n  detach: true\n  network: img\n", "steps.s.network", "network: img",
     "'build' step, which makes no network"),
    ("s:\n  run: img\n  network: nett\n", "steps.s.network", "network: nett",
     "Did you mean 'net'?"),
    # commit needs commands
    ('c:\n  commit: img\n  commands: []\n  tag: "a/b:1"\n', "steps.c.commands", "commands:",
     "needs 'commands'"),
    # commit, run and push of a step that makes no image
    ('c:\n  commit: rec\n  commands: ["ls"]\n  tag: "a/b:1"\n', "steps.c.commit", "commit: rec",
     "'sh' step, which makes no image"),
    ("s:\n  run: rec\n  detach: true\n", "steps.s.run", "run: rec", "makes no image"),
    ("p:\n  push: rec\n", "steps.p.push", "push: rec", "makes no image"),
    # a network step takes no run keys
    ("n:\n  network: x\n  detach: true\n", "steps.n.detach", "detach:", "unknown key"),
    # writable: not for a rootless run, nor for a service
    ("r:\n  run: img\n  writable: yes please\n", "steps.r.writable", "writable:", "must be"),
    ("r:\n  run: img\n  runtime: rootless\n  writable: true\n", "steps.r.writable",
     "writable:", "a rootless run has no 'writable'"),
    ("s:\n  run: img\n  detach: true\n  writable: true\n", "steps.s.writable", "writable:",
     "unknown key"),
])
def test_broken_service_and_kind_specs(tmp_path, steps, key, marker, message):
    root = write_project(tmp_path, steps)
    err = spec_error(root)
    assert err.where.file == root / "exercises" / "ex" / "exercise.yml"
    assert (err.where.key, err.where.line) == (key, line_of(root, marker))
    assert message in str(err)


@pytest.mark.parametrize("keys, user, writable", [
    ("", None, False), ("user: 1000\n", "1000", False), ('user: "nobody"\n', "nobody", False),
    ("writable: true\n", None, True),
])
def test_a_run_keeps_the_image_user_and_a_read_only_root_unless_asked(tmp_path, keys, user,
                                                                      writable):
    step = load(write_project(tmp_path, "r:\n  run: img\n" + textwrap.indent(keys, "  ")))["r"]
    assert isinstance(step, RunStep) and (step.user, step.writable) == (user, writable)


def test_commit_without_commands_key(tmp_path):
    root = write_project(tmp_path, 'c:\n  commit: img\n  tag: "a/b:1"\n')
    err = spec_error(root)
    assert err.where.key == "steps.c.commands"
    assert err.where.line == line_of(root, "commit: img")  # no key: the step's own line
    assert "needs 'commands'" in str(err)


@pytest.mark.parametrize("ref", ["Maggie/app:1", "me/app name", "me/app:", ":v1",
                                 "127.0.0.1:5000//app", "me/app@sha256:", "-me/app"])
def test_pull_of_an_invalid_reference(tmp_path, ref):
    root = write_project(tmp_path, f"up:\n  pull: '{ref}'\n")
    err = spec_error(root)
    assert (err.where.key, err.where.line) == ("steps.up.pull", line_of(root, "pull:"))
    assert f"'{ref}' is not a valid image reference" in str(err)


def test_ready_log_list_is_not_silently_truncated(tmp_path):
    root = write_project(tmp_path, "s:\n  run: img\n  detach: true\n"
                                   "  ready: {log: [first, second]}\n")
    err = spec_error(root)
    assert err.where.key == "steps.s.ready.log"


def test_pull_may_pin_a_digest(tmp_path):
    ref = "127.0.0.1:5000/me/app@sha256:" + "a" * 64
    root = write_project(tmp_path, f"up:\n  pull: '{ref}'\n")
    assert load(root)["up"].ref == ref


def test_aliases_need_a_network(tmp_path):
    root = write_project(tmp_path, "s:\n  run: img\n  detach: true\n  aliases: [db]\n")
    err = spec_error(root)
    assert err.where.key == "steps.s.aliases"
    assert "Add 'network:'" in str(err)


def test_numeric_port_keys_are_read_as_strings(tmp_path):
    root = write_project(tmp_path, "s:\n  run: img\n  detach: true\n  ports: {8082: 8083}\n")
    assert dict(load(root)["s"].ports) == {"8082": "8083"}


@pytest.mark.parametrize("steps, key", [
    ("b:\n  build: ../..\n  tag: x\n", "steps.b.build"),
    ("r:\n  sh: 'true'\n  targets: [/etc/passwd]\n", "steps.r.targets"),
    ("r:\n  sh: 'true'\n  deps: [../../ac295.yml]\n", "steps.r.deps"),
    ("i:\n  import: /tmp/rootfs.tar\n  tag: x\n", "steps.i.import"),
    ("b:\n  build: .\n  dockerfile: ../../../etc/hostname\n  tag: x\n", "steps.b.dockerfile"),
])
def test_paths_may_not_leave_the_exercise_or_state_folder(tmp_path, steps, key):
    err = spec_error(write_project(tmp_path, steps))
    assert err.where.key == key and "leads outside the exercise folder" in str(err)


def test_state_paths_are_allowed(tmp_path):
    root = write_project(tmp_path, "r:\n  sh: 'true'\n  targets: ['{state}/out.txt']\n")
    assert load(root)["r"].targets == ((tmp_path / ".ac295" / "out.txt").resolve(),)


def test_command_string_is_split_like_a_shell(tmp_path):
    root = write_project(tmp_path, "q:\n  run: img\n  command: python3 'my file.py' -v\n")
    assert load(root)["q"].command == ("python3", "my file.py", "-v")


def test_state_is_quoted_in_recipes(tmp_path):
    root = tmp_path / "with space"
    root.mkdir()
    write_project(root, "r:\n  sh: cat {state}/x\n")
    (command,) = load(root)["r"].commands
    assert command == f"cat '{(root / '.ac295').resolve()}'/x"


def test_suggestions_come_only_from_steps_of_the_right_kind(tmp_path):
    # `nets` is a recipe, closer to the misspelling than the network `net`: not suggested
    root = write_project(tmp_path, "nets: {sh: 'true'}\ns:\n  run: img\n  network: nets_\n")
    err = spec_error(root)
    assert err.where.key == "steps.s.network"
    assert "Did you mean 'net'?" in str(err)


def test_type_errors_speak_yaml_not_python(tmp_path):
    err = spec_error(write_project(tmp_path, "q:\n  run: img\n  timeout: [1, 2]\n"))
    assert "must be a whole number, not a list ([1, 2])" in str(err)
    assert "LList" not in str(err) and "LDict" not in str(err)


def test_the_isolation_explains_what_it_refused_once_each():
    from tasks.kinds import isolation

    said = isolation.hints("touch: cannot touch '/x': Read-only file system\n"
                           "mkdir: Read-only file system\n"
                           "OSError: [Errno 101] Network is unreachable\n")
    assert said == ["its root file system is read-only: write under /tmp (64 MB), or add "
                    "'writable: true' to the step",
                    "it has no network: name a network step with 'network:'"]
    assert isolation.hints("Answer: 2640\n") == []
