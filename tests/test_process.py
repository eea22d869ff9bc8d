"""Process set-up, the run lock: read-only commands take none; a second holder waits and says who holds it."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from tasks import process


@pytest.mark.parametrize("argv, command", [
    (["doit"], "run"), (["doit", "exercise2"], "run"), (["doit", "list", "--all"], "list"),
    (["doit", "-v", "2", "info", "x"], "run"), (["doit", "info", "x"], "info"),
    (["doit", "clean", "x"], "clean"),
])
def test_command_of(argv, command):
    assert process.command_of(argv) == command


def test_a_second_process_waits_and_says_who_holds_the_lock(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(__import__('pathlib').Path(process.__file__).parents[1])!r})
        from pathlib import Path
        from tasks import process
        process.hold(Path({str(tmp_path)!r}), ["doit", "x"])
        print("got it", flush=True)
        time.sleep(float(sys.argv[1]))
    """)
    first = subprocess.Popen([sys.executable, "-c", script, "3"], stdout=subprocess.PIPE,
                             text=True)
    assert first.stdout is not None and first.stdout.readline().strip() == "got it"
    second = subprocess.run([sys.executable, "-c", script, "0"], capture_output=True,
                            text=True, timeout=30)
    first.wait(timeout=30)
    assert second.stdout.strip() == "got it"
    assert f"another run (pid {first.pid}) holds" in second.stderr


def test_read_only_commands_take_no_lock(tmp_path):
    assert process.hold(tmp_path, ["doit", "list"]) is False
    assert not (tmp_path / "run.lock").exists()


def test_an_interrupt_ends_with_the_shells_code_and_one_line(tmp_path):
    """A run stopped by SIGTERM exits 143 without a traceback (SIGINT: 130)."""
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        sys.path.insert(0, {str(__import__('pathlib').Path(process.__file__).parents[1])!r})
        from pathlib import Path
        from tasks import process
        process.prepare(Path({str(tmp_path)!r}), ["doit", "x"])
        print("ready", flush=True)
        time.sleep(30)
    """)
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == code
        assert err == f"ac295: stopped by {sig.name} before any task ran.\n"


def _can_take(path) -> bool:
    """Whether another process could take the lock file now (without waiting)."""
    probe = ("import fcntl, sys\nh = open(sys.argv[1], 'a+')\n"
             "try:\n    fcntl.flock(h, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "except BlockingIOError:\n    sys.exit(1)\n")
    return subprocess.run([sys.executable, "-c", probe, str(path)]).returncode == 0


def test_a_lock_held_for_a_block_is_let_go_after_it(tmp_path):
    """`doit shell` holds the run lock while it sets up only: runs may go on meanwhile."""
    with process.locked(tmp_path):
        assert not _can_take(tmp_path / "run.lock")
    assert _can_take(tmp_path / "run.lock")


def test_shell_takes_no_lock_for_its_whole_life(tmp_path):
    assert process.command_of(["doit", "shell", "ex:q"]) == "shell"
    assert process.hold(tmp_path, ["doit", "shell", "ex:q"]) is False


def test_kill_group_kills_the_child_and_what_it_started_and_ignores_one_gone():
    import subprocess
    import time

    from tasks import process

    proc = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True)
    time.sleep(0.3)
    process.kill_group(proc)
    assert proc.wait(timeout=5) == -9

    def living() -> list[str]:  # the group's processes that still run (not zombies)
        out = subprocess.run(["ps", "-o", "stat=", "-g", str(proc.pid)], capture_output=True,
                             text=True).stdout.split()
        return [state for state in out if not state.startswith("Z")]

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and living():
        time.sleep(0.1)
    assert living() == []
    process.kill_group(proc)  # the group is gone: no error


def test_stop_asks_first_and_kills_a_child_that_will_not_end():
    import subprocess

    from tasks import process

    polite = subprocess.Popen(["sleep", "60"])
    process.stop(polite, grace=5)
    assert polite.returncode == -15  # SIGTERM was enough
    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 60"])
    import time
    time.sleep(0.3)
    process.stop(stubborn, grace=0.5)
    assert stubborn.wait(timeout=5) == -9
