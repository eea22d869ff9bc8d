"""``doit watch`` on the real engine and registry: what a save reruns, services kept up, the end.

One watch process over exercise 2 and demo 2 in the shared project copy, driven by saving
files; the expected reruns are a table written by hand, and what ran is read from the output
(doit's ". task" lines) by the test's own reader. Docker is asked directly (container and
network ids) whether the services stayed up.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from clones import Project, leftovers, networks_left

#: What a save reruns, by hand: file -> the tasks that run (once each), and no others.
RERUNS = {
    # the registry is stopped when the test starts: the push's setup starts it
    "exercises/exercise2/Question.py": {"exercise2:image", "exercise2:question",
                                        "registry_start", "exercise2:push"},
    "exercises/demo2/probe.py": {"demo2:answers", "demo2:db-not-published"},
    "exercises/demo2/server/server.py": {"demo2:server-image", "demo2:server", "demo2:answers"},
}
#: Saves that run nothing: a file .dockerignore leaves out, an editor's swap file, a backup.
IGNORED = ["exercises/exercise2/NOTES.md", "exercises/exercise2/.Question.py.swp",
           "exercises/demo2/server/server.py~", "exercises/exercise2/__pycache__/x.pyc"]
SUMMARY = re.compile(r"^ac295: \d+ ran, \d+ up to date, \d+ failed in [\d.]+ s$", re.M)


class Watching:
    """A `script/doit watch` process, its output in a file, read as it grows."""

    def __init__(self, project: Project, *args: str) -> None:
        self.project = project
        self.log = project.root / f"watch-{os.getpid()}-{time.monotonic_ns()}.log"
        self.out = self.log.open("w")
        self.proc = subprocess.Popen([str(project.root / "script/doit"), "watch", *args],
                                     cwd=project.root, env=project.env, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.seen = 0

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 300) -> str:
        """The output after what was read so far, up to the first match of ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rest = self.text()[self.seen:]
            match = re.search(pattern, rest, re.M)
            if match:
                self.seen += match.end()
                return rest[:match.end()]
            assert self.proc.poll() is None, f"watch ended ({self.proc.returncode}):\n" \
                + self.text()[-4000:]
            time.sleep(0.1)
        raise AssertionError(f"no /{pattern}/ within {timeout} s:\n{self.text()[-4000:]}")

    def round(self, timeout: float = 300) -> str:
        """The next round's output, up to its summary line."""
        return self.wait_for(SUMMARY.pattern, timeout)

    def quiet(self, seconds: float) -> str:
        """What it printed in the next ``seconds``."""
        time.sleep(seconds)
        return self.text()[self.seen:].strip()

    def stop(self, signum: int = signal.SIGINT, timeout: float = 120) -> tuple[int, str]:
        os.killpg(self.proc.pid, signum)  # as a terminal's Ctrl-C reaches the whole group
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.kill()
        return code, self.text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.out.close()


def ran(output: str) -> list[str]:
    return re.findall(r"^\.  (\S+)$", output, re.M)


def save(project: Project, rel: str, text: str | None = None) -> None:
    path = project.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    body = path.read_text() if path.exists() else ""
    path.write_text(text if text is not None else body + f"\n# saved {time.time_ns()}\n")


def ids(engine, project: Project) -> dict[str, str]:
    """The project copy's containers and networks, by name: id (the test's own look)."""
    found = {c.name: c.id for c in leftovers(engine, project)}
    found.update({n.name: n.id for n in networks_left(engine, project)})
    return found


def registry_pid(project: Project) -> int | None:
    try:
        pid = int((project.state / "registry" / "registry.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


@pytest.fixture
def restore(project):
    """Put back every file the test edits."""
    files = [*RERUNS, *IGNORED, "exercises/exercise2/exercise.yml"]
    saved = {rel: (project.root / rel).read_bytes() if (project.root / rel).exists() else None
             for rel in files}
    yield
    for rel, body in saved.items():
        path = project.root / rel
        if body is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(body)


def test_watch_reruns_what_a_save_touches_keeps_services_and_ends_clean(project, engine,
                                                                        restore) -> None:
    project.doit("registry_stop", check=False)  # so that watch starts it, and must stop it
    project.doit("exercise2", "demo2")  # the first build is not what this test is about
    project.doit("registry_stop", check=False)
    watching = Watching(project, "exercise2", "demo2")
    try:
        first = watching.round(timeout=600)
        assert "demo2:db" in ran(first) and "demo2:server" in ran(first)
        watching.wait_for(r"^ac295: watching .*Ctrl-C to stop$")
        # at once, a burst of saves of Question.py: one round, each dependent task once
        for _ in range(3):  # as an editor writes a file, its backup and the file again
            save(project, "exercises/exercise2/Question.py")
        up = ids(engine, project)
        assert len(up) == 3, up  # db, server and their network
        output = watching.round()
        assert output.count("changed\n") == 1, output
        assert sorted(ran(output)) == sorted(RERUNS["exercises/exercise2/Question.py"]), output
        assert "Answer: 2640" in output
        assert registry_pid(project) is not None  # the push started it
        assert ids(engine, project) == up  # demo 2 was not touched: its services stayed

        # saves of files nothing reads start no round, and neither does their removal (an
        # editor removes its swap file; left in a context, the next build would send it)
        for rel in IGNORED:
            save(project, rel)
        assert watching.quiet(2.0) == ""
        for rel in IGNORED[1:]:
            (project.root / rel).unlink()
        assert watching.quiet(1.5) == ""

        # the probes read probe.py: they rerun against the services that stayed up
        save(project, "exercises/demo2/probe.py")
        output = watching.round()
        assert sorted(ran(output)) == sorted(RERUNS["exercises/demo2/probe.py"]), output
        assert ids(engine, project) == up

        # the server's code: its image, the server (restarted) and the probe that asks it;
        # the database and the network keep running
        save(project, "exercises/demo2/server/server.py")
        output = watching.round()
        assert sorted(ran(output)) == sorted(RERUNS["exercises/demo2/server/server.py"]), \
            output
        now = ids(engine, project)
        server = f"{project.prefix}ac295-demo2-server"
        assert now[server] != up[server]
        assert {k: v for k, v in now.items() if k != server} == \
            {k: v for k, v in up.items() if k != server}

        # a broken exercise.yml: one paragraph (file, line, key), nothing runs
        spec = project.root / "exercises/exercise2/exercise.yml"
        good = spec.read_text()
        save(project, "exercises/exercise2/exercise.yml",
             good.replace("    expect:\n", "    expekt:\n"))
        said = watching.wait_for(r"^ac295: exercise2 is not run until its spec is fixed: .*$")
        assert "exercise.yml:" in said and "expekt" in said and "Traceback" not in said
        assert SUMMARY.search(watching.quiet(1.5)) is None
        # fixed, with one check more: loaded again, and the check whose keys changed runs
        fixed = good.replace('stdout: ["^Answer: 2640$"]',
                             'stdout: ["^Answer: 2640$", "^Quest"]')
        assert fixed != good, "the copy's exercise2/exercise.yml was left edited by a test"
        save(project, "exercises/exercise2/exercise.yml", fixed)
        output = watching.round()
        assert "ac295: exercise2 loads again" in output
        assert ran(output) == ["exercise2:question"], output

        registry = registry_pid(project)
        code, text = watching.stop(signal.SIGINT)
    finally:
        watching.kill()
    said = [line for line in text.splitlines() if "stopped by" in line]
    assert code == 130, text[-3000:]
    assert len(said) == 1 and said[0].startswith("ac295: watch stopped by SIGINT"), said
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert leftovers(engine, project) == [] and networks_left(engine, project) == []
    assert registry is not None and registry_pid(project) is None  # it started it, it stopped it
    with pytest.raises(ProcessLookupError):
        os.killpg(watching.proc.pid, 0)  # nothing of its process group is left


def test_sigterm_ends_watch_with_143_and_nothing_left(project, engine) -> None:
    project.doit("demo2")
    watching = Watching(project, "demo2")
    try:
        watching.round(timeout=600)
        watching.wait_for(r"^ac295: watching ")
        assert len(ids(engine, project)) == 3
        code, text = watching.stop(signal.SIGTERM)
    finally:
        watching.kill()
    assert code == 143, text[-3000:]
    assert [line for line in text.splitlines() if "stopped by" in line] == [
        "ac295: watch stopped by SIGTERM; removed demo2:server, demo2:db, demo2:network."]
    assert leftovers(engine, project) == [] and networks_left(engine, project) == []
