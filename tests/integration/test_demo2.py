"""Demo 2 on the real engine: a db and a web server on a private network, and the clean-up.

The services, the network and the checks are ephemeral by design: they run every time and are
removed when doit's run ends, after success, after a failed check and after Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request

from clones import leftovers, networks_left

SERVICES = {"demo2:network", "demo2:db", "demo2:server", "demo2:answers",
            "demo2:db-not-published"}


def _nothing_left(engine, project) -> None:
    assert leftovers(engine, project) == []
    assert networks_left(engine, project) == []


def test_demo_answers_and_cleans_up(project, engine) -> None:
    run = project.doit("demo2")
    assert SERVICES | {"demo2:db-image", "demo2:server-image"} <= set(run.executed)
    assert "all from the database" in run.stdout
    assert "is not reachable from the host" in run.stdout
    _nothing_left(engine, project)


def test_second_run_rebuilds_nothing_but_reruns_the_checks(project, engine) -> None:
    run = project.doit("demo2")
    assert {"demo2:db-image", "demo2:server-image"} <= set(run.skipped)
    assert SERVICES <= set(run.executed)
    _nothing_left(engine, project)


def test_changed_translation_rebuilds_only_the_db_image(project, engine) -> None:
    source = project.root / "exercises/demo2/db/translations.py"
    source.write_text(source.read_text().replace('"Hallo Welt"', '"Hallo, Welt"'))
    run = project.doit("demo2")
    built = {n for n in run.executed if n.endswith("-image")}
    assert built == {"demo2:db-image"}
    assert SERVICES <= set(run.executed)
    _nothing_left(engine, project)


def test_failed_check_still_cleans_up(project, engine) -> None:
    spec = project.root / "exercises/demo2/exercise.yml"
    original = spec.read_text()
    # the server IS reachable, so "unreachable" on its URL fails
    spec.write_text(original.replace("python3 probe.py answers", "python3 probe.py unreachable"))
    try:
        run = project.doit("demo2", check=False)
    finally:
        spec.write_text(original)
    assert run.returncode != 0
    assert "should not be reachable" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    _nothing_left(engine, project)


def test_ctrl_c_while_services_run_cleans_up(project, engine) -> None:
    spec = project.root / "exercises/demo2/exercise.yml"
    original = spec.read_text()
    spec.write_text(original.replace("python3 probe.py answers http://127.0.0.1:{demo2_port}/",
                                     "sleep 120"))
    log = project.root / "sigint.log"
    with log.open("w") as out:  # a file, not a pipe: read while the run goes on
        proc = subprocess.Popen([str(project.root / "script/doit"), "demo2"], cwd=project.root,
                                env=project.env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(leftovers(engine, project)) == 2 and _answers(project.demo2_port) \
                    and ".  demo2:answers" in log.read_text():  # the slow step is under way
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        else:
            raise AssertionError("the services did not come up")
        assert networks_left(engine, project)  # the filter sees what is there
        for container in leftovers(engine, project):  # unprivileged and bounded
            host = container.attrs["HostConfig"]
            assert (host["Privileged"], host["Memory"], host["PidsLimit"]) == \
                (False, 2 * 1024 ** 3, 1024)
            assert all(b.get("HostIp") == "127.0.0.1"
                       for bindings in (host.get("PortBindings") or {}).values()
                       for b in bindings)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        proc.wait(timeout=60)
        output = log.read_text()
    finally:
        spec.write_text(original)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output[-2000:]  # the shell's code for Ctrl-C
    assert "removed" in output
    _one_line_and_no_traceback(output, "SIGINT")
    _nothing_left(engine, project)


def _one_line_and_no_traceback(output: str, signal_name: str) -> None:
    said = [line for line in output.splitlines() if line.startswith("ac295: stopped by")]
    assert said == [f"ac295: stopped by {signal_name} while demo2:answers ran; demo2:answers "
                    "will run again next time; the tasks that finished are saved."], said
    assert "Traceback" not in output and "KeyboardInterrupt" not in output


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_sigterm_saves_finished_work_and_cleans_up(project, engine) -> None:
    """SIGTERM (a CI timeout, `kill`) ends the run like Ctrl-C: teardown runs, and doit saves
    the tasks that finished, so the next run does not redo them."""
    source = project.root / "exercises/demo2/db/translations.py"
    source.write_text(source.read_text().replace('"Ciao mondo"', '"Ciao, mondo"'))
    spec = project.root / "exercises/demo2/exercise.yml"
    original = spec.read_text()
    spec.write_text(original.replace("python3 probe.py answers http://127.0.0.1:{demo2_port}/",
                                     "sleep 120"))
    log = project.root / "sigterm.log"
    with log.open("w") as out:  # a file, not a pipe: the recipe's `sleep` may outlive doit
        proc = subprocess.Popen([str(project.root / "script/doit"), "demo2"], cwd=project.root,
                                env=project.env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if len(leftovers(engine, project)) == 2 and _answers(project.demo2_port) \
                    and ".  demo2:answers" in log.read_text():  # the slow step is under way
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        else:
            raise AssertionError("the services did not come up")
        proc.send_signal(signal.SIGTERM)  # to doit alone, as `kill` or a CI timeout does
        proc.wait(timeout=60)
        output = log.read_text()
    finally:
        spec.write_text(original)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the orphaned `sleep`, if any
        except ProcessLookupError:
            pass
    assert proc.returncode == 143, output[-2000:]  # the shell's code for SIGTERM
    _one_line_and_no_traceback(output, "SIGTERM")
    assert ".  demo2:db-image" in output  # the rebuild happened in the interrupted run
    _nothing_left(engine, project)
    run = project.doit("demo2")
    assert "demo2:db-image" in run.skipped  # ... and was saved: not redone
    _nothing_left(engine, project)
