"""`doit shell` on an LXC run: the image's folder made under the lock, the shell (or, with
-c, the step's command) run by lxc-execute on the terminal, the run's folder gone after."""
from __future__ import annotations

import contextlib

import pytest

from helpers import WHERE, runtime
from tasks.engine import lxc, shells as engine_shells
from tasks.errors import ShellError
from tasks.kinds import records
from tasks.kinds import run as run_mod
from tasks.kinds.base import ShellRequest
from tasks.kinds.expect import Expect
from tasks.kinds.run import RunStep


def step(command: tuple[str, ...] | None = None) -> RunStep:
    return RunStep(exercise="ex", name="q", doc="", after=(), where=WHERE, image="img",
                   command=command, env={"A": "1"}, expect=Expect(), timeout=30,
                   runtime="lxc")


@pytest.fixture
def events(monkeypatch, tmp_path) -> list[str]:
    found: list[str] = []

    def rootfs(engine, image_id, store, key):
        found.append(f"rootfs {image_id} {store.relative_to(tmp_path)} {key}")
        return lxc.Rootfs(store / key, command=("python3", "/app/Q.py"))

    @contextlib.contextmanager
    def session(fs, command, env):
        found.append(f"session {list(command)} {env}")
        yield ["lxc-execute", "--", *command]
        found.append("removed")

    monkeypatch.setattr(lxc, "rootfs", rootfs)
    monkeypatch.setattr(lxc, "session", session)
    return found


@contextlib.contextmanager
def lock(found: list[str]):
    found.append("lock")
    yield
    found.append("unlock")


def test_an_lxc_shell_sets_the_folder_up_under_the_lock_and_removes_the_run_after(
        tmp_path, events):
    rt, _ = runtime(tmp_path)
    image = rt.record_path("ex:img")
    records.write(image, {"content_digest": "sha256:c0ffee"})
    records.write(records.local_of(image), {"image_id": "sha256:" + "1" * 64})
    request = ShellRequest(setting_up=lambda: lock(events))
    with run_mod.lxc_shell(rt, step(), request) as session:
        events.append("session")
    assert session.argv == ["lxc-execute", "--", *engine_shells.SHELL]
    assert "LXC on ex:img's image" in session.what and "a loopback only" in session.what
    assert events == ["lock", f"rootfs sha256:{'1' * 64} state/lxc/rootfs c0ffee", "unlock",
                      f"session {engine_shells.SHELL} {{'A': '1'}}", "session", "removed"]
    events.clear()
    with run_mod.lxc_shell(rt, step(), ShellRequest(own_command=True)) as session:
        pass
    assert session.argv[-2:] == ["python3", "/app/Q.py"]  # the image's command: the step has none
    with run_mod.lxc_shell(rt, step(("id", "-u")), ShellRequest(own_command=True)) as session:
        pass
    assert session.argv[-2:] == ["id", "-u"]


def test_an_lxc_shell_before_its_image_step_ran_says_what_to_run(tmp_path, events):
    rt, _ = runtime(tmp_path)
    with pytest.raises(ShellError, match=r"run `script/doit ex:img` first"):
        with run_mod.lxc_shell(rt, step(), ShellRequest()):
            pass
    assert events == []


def test_the_run_kind_opens_the_lxc_shell_for_an_lxc_step(tmp_path, monkeypatch):
    from tasks.kinds import KINDS

    opened: list[str] = []
    monkeypatch.setattr(run_mod, "lxc_shell", lambda rt, s, request: opened.append(s.task)
                        or contextlib.nullcontext())
    rt, _ = runtime(tmp_path)
    context = type("Ctx", (), {"rt": rt})()
    assert isinstance(KINDS["run"].shell(step(), context, ShellRequest()),
                      contextlib.AbstractContextManager)
    assert opened == ["ex:q"]
