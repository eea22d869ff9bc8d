"""The read-only commands end quietly: Ctrl-C while they wait (one line, exit 130, no
traceback), whatever they were doing, in a real doit process."""
from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from helpers import ROOT, write_project
from tasks.kinds import records


@pytest.fixture
def silent_registry():
    """A TCP server that accepts connections and never answers: a registry that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}", held
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _project(tmp_path: Path, registry: str) -> tuple[Path, dict[str, str]]:
    """A grade of one student whose check asks the (hanging) registry: it has a record."""
    root = write_project(tmp_path / "p", {
        "exercises/ex/exercise.yml": """\
            doc: a check that asks the registry
            steps:
              check: {grade: roster.yml, image: "{registry}/{student}/app:1"}
            """,
        "exercises/ex/roster.yml": "- ana\n"},
        f"variables:\n  registry: {registry}\n  registry_service: external\n")
    for name in ("dodo.py", "pyproject.toml", "tasks"):
        (root / name).symlink_to(ROOT / name)
    state = tmp_path / "state"
    records.write(records.path_in(state, "ex:check.ana"),
                  {"task": "ex:check.ana", "digest": "sha256:" + "0" * 64})
    return root, {"PATH": "/usr/bin:/bin", "AC295_STATE_DIR": str(state)}


def test_ctrl_c_ends_a_read_only_command_in_one_line(tmp_path, silent_registry):
    registry, asked = silent_registry
    root, env = _project(tmp_path, registry)
    commands = [["why"], ["status"], ["graph"], ["list", "--status"], ["info", "ex:check.ana"]]
    procs = [subprocess.Popen([str(ROOT / ".venv/bin/doit"), *command], cwd=root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for command in commands]  # all at once: the test waits once
    deadline = time.monotonic() + 120
    while len(asked) < len(procs) and time.monotonic() < deadline and \
            all(proc.poll() is None for proc in procs):
        time.sleep(0.1)  # each one loaded, and now waits for the registry's answer
    time.sleep(0.5)
    for proc in procs:
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
    for command, proc in zip(commands, procs):
        out, err = proc.communicate(timeout=30)
        assert (proc.returncode, err) == (130, "ac295: stopped by SIGINT.\n"), (command, out)
