"""`doit shell`'s decisions, with a spec'd fake engine: which environment each kind opens,
what it says when it has none, which state a failed step kept, what its error's last line is,
and that what a shell made goes when it ends."""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

import docker.errors
import pytest

from helpers import example_steps, record, runtime
from tasks.engine import evidence
from tasks.engine.client import LABEL_PROJECT, LABEL_TASK
from tasks.engine.evidence import LABEL_FAILED, LABEL_RERUN
from tasks.engine.options import ContainerOptions, Mount
from tasks.engine.shells import LABEL_SHELL
from tasks.errors import Ac295Error, CheckFailed, EngineError, ShellError
from tasks.graph.explain import Status, failure_words
from tasks.kinds import KINDS, kept, records, shells
from tasks.kinds.base import Session, ShellRequest, TaskContext
from tasks.kinds.venv import rc_text, subshell_argv
from tasks.names import shell_line
from tasks.vm import console

PROJECT = "/p/.ac295"


def failed_image(task: str, rerun: bool = True, created: int = 1) -> dict[str, Any]:
    return {"Id": f"sha256:failed-{created}", "RepoTags": [evidence.reference("", task)],
            "Created": created,
            "Labels": {LABEL_FAILED: "exit code 1, expected 0", LABEL_TASK: task,
                       LABEL_PROJECT: PROJECT, LABEL_RERUN: "1" if rerun else ""}}


def fake_rt(tmp_path: Path, listing: list[dict[str, Any]] | None = None):
    rt, api = runtime(tmp_path, listing)
    rt.engine.project = PROJECT
    return rt, api


# --- the error's last line, and `why` -------------------------------------------------

def test_a_failure_that_kept_its_state_ends_with_the_command_that_opens_it(tmp_path):
    rt, api = fake_rt(tmp_path, [failed_image("ex:q")])
    with pytest.raises(CheckFailed) as info:
        with kept.kept(rt, "ex:q"):
            api.images.return_value = [failed_image("ex:q", created=2)]  # what the run kept
            raise CheckFailed("ex:q: the container's output is not as expected.\n--- stdout ---")
    lines = str(info.value).splitlines()
    assert lines[0] == "ex:q: the container's output is not as expected."
    assert lines[-2] == "The state it failed in is kept (ac295-failed:ex.q); look inside with:"
    assert lines[-1] == "script/doit shell ex:q" == shell_line("ex:q")
    # the earlier evidence went first: one piece per step
    api.remove_image.assert_called_once_with("sha256:failed-1", force=True, noprune=False)


def test_a_failure_that_kept_nothing_is_left_as_it_was(tmp_path):
    rt, _ = fake_rt(tmp_path, [])
    with pytest.raises(EngineError) as info:
        with kept.kept(rt, "ex:q"):
            raise EngineError("the engine refused")
    assert str(info.value) == "the engine refused"


def test_an_engine_that_fails_while_asked_what_was_kept_leaves_the_error(tmp_path):
    rt, api = fake_rt(tmp_path, [])
    with pytest.raises(CheckFailed, match="^ex:q: wrong$"):
        with kept.kept(rt, "ex:q"):
            api.images.side_effect = docker.errors.APIError("the engine went away")
            raise CheckFailed("ex:q: wrong")


def test_a_bug_is_not_dressed_up(tmp_path):
    rt, api = fake_rt(tmp_path, [failed_image("ex:q")])
    with pytest.raises(KeyError):
        with kept.kept(rt, "ex:q"):
            raise KeyError("image_id")
    api.images.assert_not_called()  # nobody asked what was kept


@pytest.mark.parametrize("message, words", [
    ("ex:q: wrong output.\n--- stdout ---\nAnswer: 1\nThe state it failed in is kept (x); "
     "look inside with:\nscript/doit shell ex:q",
     "ex:q: wrong output.; look inside: script/doit shell ex:q"),
    ("ex:q: wrong output.\n--- stdout ---\nAnswer: 1", "ex:q: wrong output."),
    ("script/doit shell ex:q", "script/doit shell ex:q"),
    ("  \n", "no message"),
])
def test_why_names_a_failure_in_one_line(message, words):
    assert failure_words(message) == words
    assert "\n" not in Status("ex:q", "run", ["it has no record"], failed=message).line()


# --- which environment a shell opens ---------------------------------------------------

def test_a_failed_state_comes_before_the_steps_environment(tmp_path):
    rt, _ = fake_rt(tmp_path, [failed_image("ex:q")])
    options = ContainerOptions(working_dir="/srv", mounts=(Mount("vol", "/data"),))
    plan = shells.failed_plan(rt, "ex:q", ShellRequest(), network="net", options=options)
    assert plan is not None
    assert (plan.image, plan.shell, plan.failed, plan.network, plan.options) == \
        ("sha256:failed-1", True, True, "net", options)
    assert "ex:q failed in" in plan.what and "exit code 1" in plan.what
    rerun = shells.failed_plan(rt, "ex:q", ShellRequest(own_command=True))
    assert rerun is not None and rerun.shell is False  # -c: the command that failed


def test_minus_c_on_a_build_that_failed_at_no_command_is_refused(tmp_path):
    rt, _ = fake_rt(tmp_path, [failed_image("ex:image", rerun=False)])
    with pytest.raises(ShellError, match="no command"):
        shells.failed_plan(rt, "ex:image", ShellRequest(own_command=True))


def test_an_image_step_opens_its_recorded_image(tmp_path):
    listing = [{"Id": "sha256:img", "RepoTags": ["me/app:in-abc", "me/app:1"]}]
    rt, _ = fake_rt(tmp_path, listing)
    record(rt, "ex:image", content_digest="sha256:c")
    records.write(records.local_of(rt.record_path("ex:image")), {"image_id": "sha256:img"})
    plan = shells.image_plan(rt, "ex:image", ShellRequest())
    assert (plan.image, plan.shell, plan.failed) == ("sha256:img", True, False)
    assert plan.what == "a new container of ex:image's image (me/app:1)"
    assert shells.image_plan(rt, "ex:image", ShellRequest(own_command=True)).shell is False


def test_an_image_step_that_has_not_run_says_what_to_run(tmp_path):
    rt, _ = fake_rt(tmp_path, [])
    with pytest.raises(ShellError, match=r"run `script/doit ex:image` first"):
        shells.image_plan(rt, "ex:image", ShellRequest())


def test_an_image_the_engine_lost_says_to_run_again(tmp_path):
    rt, _ = fake_rt(tmp_path, [])
    record(rt, "ex:image", content_digest="sha256:c")
    records.write(records.local_of(rt.record_path("ex:image")), {"image_id": "sha256:gone"})
    with pytest.raises(ShellError, match="no longer has the image"):
        shells.image_plan(rt, "ex:image", ShellRequest())


class Recorder:
    """A fake engine side of a shell session that writes down what happens, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.events.append("lock")
        try:
            yield
        finally:
            self.events.append("unlock")

    @contextlib.contextmanager
    def network(self, engine: Any, name: str, labels: Any) -> Iterator[str]:
        self.events.append(f"network {name}")
        yield name
        self.events.append(f"remove network {name}")

    @contextlib.contextmanager
    def volume(self, engine: Any, name: str, labels: Any) -> Iterator[str]:
        self.events.append(f"volume {name}")
        yield name
        self.events.append(f"remove volume {name}")

    @contextlib.contextmanager
    def container(self, engine: Any, box: Any, labels: Any) -> Iterator[list[str]]:
        self.events.append(f"container {box.name} on {box.network}")
        self.labels = labels
        self.box = box
        yield ["docker", "start", "-ai", box.name]
        self.events.append(f"remove container {box.name}")


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    found = Recorder()
    monkeypatch.setattr(shells.shells, "network", found.network)
    monkeypatch.setattr(shells.shells, "volume", found.volume)
    monkeypatch.setattr(shells.shells, "container", found.container)
    monkeypatch.setattr(shells.shells, "sweep_dead", lambda *a: 0)
    return found


def test_a_session_sets_up_under_the_lock_and_removes_all_after_it(tmp_path, recorder):
    rt, _ = fake_rt(tmp_path, [])
    rt.config.variables["local_prefix"] = "x-"  # type: ignore[index]
    plan = shells.Plan(image="sha256:i", what="the env", network="x-net", aliases=("db",))
    request = ShellRequest(setting_up=recorder.lock)
    with shells.container_session(rt, "ex:q", request, lambda: plan) as session:
        recorder.events.append("session")
    pid = os.getpid()
    assert recorder.events == ["lock", f"network x-net-shell-{pid}",
                               f"container x-ex-q-shell-{pid} on x-net-shell-{pid}", "unlock",
                               "session", f"remove container x-ex-q-shell-{pid}",
                               f"remove network x-net-shell-{pid}"]
    assert session.argv[-1] == f"x-ex-q-shell-{pid}"
    assert session.what == f"the env, on a network of its own (x-net-shell-{pid})"
    assert recorder.labels == {LABEL_TASK: "ex:q", LABEL_PROJECT: PROJECT,
                               LABEL_SHELL: str(pid)}
    assert recorder.box.aliases == ("db",) and recorder.box.hostname == "ex-q"


def test_a_named_volume_is_the_shells_own_and_a_bind_the_steps(tmp_path, recorder):
    rt, _ = fake_rt(tmp_path, [])
    options = ContainerOptions(working_dir="/srv", mounts=(
        Mount("x-data", "/data"), Mount("/p/exercises/ex/conf", "/conf", bind=True)))
    plan = shells.Plan(image="sha256:i", what="the env", options=options)
    with shells.container_session(rt, "ex:q", ShellRequest(setting_up=recorder.lock),
                                  lambda: plan):
        recorder.events.append("session")
    pid = os.getpid()
    assert recorder.events == ["lock", f"volume x-data-shell-{pid}", f"container ex-q-shell-{pid}"
                               " on None", "unlock", "session", f"remove container "
                               f"ex-q-shell-{pid}", f"remove volume x-data-shell-{pid}"]
    assert recorder.box.options == ContainerOptions(working_dir="/srv", mounts=(
        Mount(f"x-data-shell-{pid}", "/data"), Mount("/p/exercises/ex/conf", "/conf",
                                                     bind=True)))


def test_a_set_up_that_fails_leaves_nothing_and_lets_the_lock_go(tmp_path, recorder):
    rt, _ = fake_rt(tmp_path, [])
    request = ShellRequest(setting_up=recorder.lock)

    def plan() -> shells.Plan:
        raise ShellError("ex:image has not made its image here")

    with pytest.raises(ShellError):
        with shells.container_session(rt, "ex:q", request, plan):
            pass
    assert recorder.events == ["lock", "unlock"]


# --- what each kind says or opens ------------------------------------------------------

#: Kinds whose steps have no environment of their own; those marked True point to another
#: step's shell in their docs example.
INSTEAD = {"push": True, "save": True, "network": False, "sh": False, "measure": False,
           "kernel": False, "wheelhouse": True, "grade": True, "volume": True,
           "compose": True}


def test_every_kind_opens_an_environment_or_says_what_to_do_instead(tmp_path):
    steps = example_steps(tmp_path)
    rt, _ = fake_rt(tmp_path, [])
    by_kind: dict[str, Any] = {}
    for step in steps:  # each kind's step of its own section's example
        if step.exercise.startswith((f"k-{step.kind}-", "k-grade-")):  # grade: its students
            by_kind.setdefault(step.kind, step)
    assert set(by_kind) == {k.name for k in KINDS}

    def opened_by(step: Any) -> Any:
        exercise = mock.Mock(steps={s.name: s for s in steps if s.exercise == step.exercise},
                             folder=step.where.file.parent)
        return KINDS[step.kind].shell(step, TaskContext(rt=rt, exercise=exercise),
                                      ShellRequest())

    for kind_name, step in by_kind.items():
        opened = opened_by(step)
        if kind_name not in INSTEAD:
            assert isinstance(opened, contextlib.AbstractContextManager), kind_name
            continue
        assert isinstance(opened, str) and "\n" not in opened, kind_name
        assert opened.startswith(step.task) and "no environment" in opened, opened
        pointer = re.search(r"script/doit shell (\S+)$", opened)
        assert bool(pointer) == INSTEAD[kind_name], opened
        if pointer:  # a step of the same exercise whose shell opens an environment
            other = next(s for s in steps if s.task == pointer.group(1))
            assert isinstance(opened_by(other), contextlib.AbstractContextManager), opened


def test_a_push_points_to_its_image_steps_shell(tmp_path):
    step = next(s for s in example_steps(tmp_path) if s.kind == "push")
    rt, _ = fake_rt(tmp_path, [])
    line = KINDS["push"].shell(step, TaskContext(rt=rt, exercise=mock.Mock()), ShellRequest())
    assert line.endswith(shell_line(f"{step.exercise}:{step.image}"))


def test_minus_c_on_a_venv_is_refused(tmp_path):
    step = next(s for s in example_steps(tmp_path) if s.kind == "venv")
    rt, _ = fake_rt(tmp_path, [])
    with pytest.raises(ShellError, match="no command of its own"):
        KINDS["venv"].shell(step, TaskContext(rt=rt, exercise=mock.Mock()),
                            ShellRequest(own_command=True))


def test_a_venv_subshell_reads_the_persons_rc_then_activates(tmp_path):
    text = rc_text(Path("/s/venvs/my env"), Path("/p/exercises/venv"))
    assert text.splitlines() == ['[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"',
                                 ". '/s/venvs/my env/bin/activate'",
                                 "cd /p/exercises/venv"]
    assert subshell_argv(Path("/t/rc"), "/bin/bash") == ["/bin/bash", "--rcfile", "/t/rc", "-i"]
    assert subshell_argv(Path("/t/rc"), None) == ["env", "ENV=/t/rc", "sh", "-i"]


def test_the_venv_subshell_activates_for_real(tmp_path):
    """The start-up file, read by a real bash, activates a (hand-made) environment."""
    venv = tmp_path / "env"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text(f'export VIRTUAL_ENV="{venv}"\n')
    rc = tmp_path / "rc"
    rc.write_text(rc_text(venv, tmp_path))
    import subprocess

    out = subprocess.run(["bash", "-c", f". {rc}; echo $VIRTUAL_ENV; pwd"],
                         capture_output=True, text=True, env={"HOME": str(tmp_path)})
    assert out.stdout.split() == [str(venv), str(tmp_path)]


# --- the VM's console ----------------------------------------------------------------

def test_a_vm_console_runs_a_shell_with_the_console_as_its_terminal():
    line = console.guest_line(None, 40, 120)
    assert line.startswith("exec /.vmx/busybox setsid -c /.vmx/busybox sh -c ")
    assert line.endswith("<>/dev/ttyS0 >&0 2>&1")
    assert "stty rows 40 cols 120" in line and "exec bash -i" in line
    assert "python3 /app/q.py" in console.guest_line("python3 /app/q.py")
    kernel = console.kernel_line(None)
    assert " vmx_timeout=0 " in kernel  # no guest time limit


def test_a_vm_console_puts_ttys0_on_the_terminal_and_ttys1_in_the_report(tmp_path):
    argv = console.argv(Path("/k/vmlinuz"), Path("/i.cpio"), "LINE", 512, "tcg",
                        tmp_path / "report")
    assert argv[argv.index("-chardev") + 1] == "stdio,id=console,signal=off"
    serials = [argv[i + 1] for i, a in enumerate(argv) if a == "-serial"]
    assert serials == ["chardev:console", f"file:{tmp_path / 'report'}"]
    assert "-no-reboot" in argv and argv[argv.index("-m") + 1] == "512"


def test_the_vms_exit_code_is_the_guest_shells(tmp_path):
    report = tmp_path / "report"
    assert console.exit_code(report, 0) == 0  # no report: qemu's own
    report.write_text("AC295-STDOUT-BEGIN\nAC295-STDOUT-END\nAC295-EXIT=7\n")
    assert console.exit_code(report, 0) == 7


def test_a_command_too_long_for_the_kernel_line_is_said():
    with pytest.raises(Ac295Error, match="too long"):
        console.kernel_line("x" * 5000)


def test_sessions_default_to_the_programs_exit_code():
    assert Session(["true"], "x").exit_code(3) == 3
