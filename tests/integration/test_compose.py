"""The compose exercise on the real engine, and Debian's docker-compose 1.29 as its oracle.

The project runs exercises/compose/docker-compose.yml as steps; docker-compose brings the
same file up; the same probes (the integration test's checks, probe.py from the host) must
pass against both, and the containers must be made alike (user, mounts, health check,
published ports). The expected rerun sets are written by hand. A compose version of demo 2
(tests/data/compose-demo2) must give demo 2's answers.
"""
from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from clones import free_port, leftovers, networks_left, volumes_left

DATA = Path(__file__).resolve().parents[1] / "data" / "compose-demo2"
IMAGES = {f"compose:app.{s}.image" for s in ("database", "api", "frontend", "integration-test")}
LIVE = {f"compose:{s}" for s in ("app", "app.default.network", "app.dbdata.volume",
                                 "app.database", "app.api", "app.frontend",
                                 "app.integration-test", "page", "private")}
CHECKS = ["ok: the database holds its seed greetings", "ok: the API lists the database's "
          "greetings", "ok: the frontend shows every greeting", "ok: a greeting posted to the "
          "API is stored", "ok: the database has it", "ok: the frontend shows it",
          "6 of 6 checks passed"]


def _nothing_left(engine, project) -> None:
    assert leftovers(engine, project) == []
    assert networks_left(engine, project) == []
    assert volumes_left(engine, project) == []


def _checks(output: str) -> list[str]:
    """The integration test's lines in an output."""
    return [line for line in output.splitlines()
            if line in CHECKS or line.startswith("FAILED: ") or line.endswith("checks passed")]


def test_the_app_runs_and_leaves_nothing(project, engine) -> None:
    project.forget(*IMAGES)  # a first run, whatever earlier tests of the session ran
    run = project.doit("compose")
    assert IMAGES | LIVE <= set(run.executed)
    assert _checks(run.stdout) == CHECKS
    assert "lists all 5 seed greetings (6 in all)" in run.stdout  # and the posted one
    assert "8092/ is not reachable from the host" in run.stdout
    _nothing_left(engine, project)


def test_a_second_run_does_nothing_but_the_live_services(project, engine) -> None:
    run = project.doit("compose")
    assert IMAGES <= set(run.skipped)
    assert {t for t in run.executed if t.startswith("compose:")} == LIVE
    _nothing_left(engine, project)


def test_an_edit_to_the_apis_source_rebuilds_only_its_image(project, engine) -> None:
    source = project.root / "exercises/compose/api/api.py"
    source.write_text(source.read_text().replace('"api listening on', '"the API listens on'))
    run = project.doit("compose")
    assert {t for t in run.executed if t.startswith("compose:")} - LIVE == \
        {"compose:app.api.image"}
    assert _checks(run.stdout) == CHECKS
    _nothing_left(engine, project)


def _compose(folder: Path, name: str, env: dict[str, str], *args: str,
             timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["docker-compose", "-p", name, *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _oracle_env(project, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AC295_")}
    env.update(BASE_IMAGE=f"{project.registry}/ac295/base:bookworm", **values)
    return env


def _alike(container) -> dict:
    """What the same compose file must give a service container, whoever made it."""
    config, host = container.attrs["Config"], container.attrs["HostConfig"]
    mounts = sorted((m["Type"], m["Destination"], m["RW"]) for m in container.attrs["Mounts"])
    ports = sorted((port, b["HostIp"]) for port, bindings in (host.get("PortBindings") or {})
                   .items() for b in bindings)
    health = (config.get("Healthcheck") or {})
    return {"user": config.get("User"), "mounts": mounts, "ports": ports,
            "health": (health.get("Test"), health.get("Interval"), health.get("Retries")),
            "env": sorted(e for e in config.get("Env") or [] if e.split("=")[0] in
                          ("DB_URL", "API_PORT", "API_URL")),
            "cmd": config.get("Cmd"), "workdir": config.get("WorkingDir")}


def _ours_while_running(project, engine) -> dict[str, dict]:
    """Run `compose` with its page check held until the services are inspected."""
    spec = project.root / "exercises/compose/exercise.yml"
    original = spec.read_text()
    gate = project.root / "gate"
    gate.unlink(missing_ok=True)
    spec.write_text(original.replace(
        "sh: python3 probe.py page", f"sh: while [ ! -e {gate} ]; do sleep 0.2; done; "
        "python3 probe.py page"))
    found: dict[str, dict] = {}
    try:
        outcome: dict = {}
        thread = threading.Thread(target=lambda: outcome.update(run=project.doit("compose")))
        thread.start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(found) < 3:
            for container in leftovers(engine, project):
                service = container.name.rsplit("-app-", 1)[-1]
                if container.status == "running" and service in ("database", "api",
                                                                 "frontend"):
                    container.reload()
                    if (container.attrs["State"].get("Health") or {}).get("Status") == \
                            "healthy":
                        found[service] = _alike(container)
            time.sleep(0.5)
        gate.touch()
        thread.join(timeout=300)
    finally:
        spec.write_text(original)
        gate.touch()
    assert outcome["run"].returncode == 0
    return found


def test_docker_compose_runs_the_same_file_and_the_same_probes_pass(project, engine):
    ours = _ours_while_running(project, engine)
    assert set(ours) == {"database", "api", "frontend"}
    _nothing_left(engine, project)
    folder = project.root / "exercises/compose"
    port = free_port()
    name = re.sub(r"[^a-z0-9]", "", f"{project.prefix}oracle")
    env = _oracle_env(project, FRONTEND_PORT=str(port))
    try:
        up = _compose(folder, name, env, "up", "-d", "--build")
        assert up.returncode == 0, up.stdout + up.stderr
        tester = engine.containers.get(_compose(folder, name, env, "ps", "-q",
                                                "integration-test").stdout.strip())
        assert tester.wait(timeout=120)["StatusCode"] == 0
        assert _checks(tester.logs().decode()) == CHECKS  # the same checks, the same answers
        page = subprocess.run(["python3", "probe.py", "page", f"http://127.0.0.1:{port}/"],
                              cwd=folder, capture_output=True, text=True, timeout=60)
        assert page.returncode == 0, page.stderr
        assert "lists all 5 seed greetings (6 in all)" in page.stdout
        private = subprocess.run(["python3", "probe.py", "unreachable",
                                  "http://127.0.0.1:8092/", "http://127.0.0.1:8091/"],
                                 cwd=folder, capture_output=True, text=True, timeout=60)
        assert private.returncode == 0, private.stderr
        theirs = {}
        for service in ("database", "api", "frontend"):
            ident = _compose(folder, name, env, "ps", "-q", service).stdout.strip()
            theirs[service] = _alike(engine.containers.get(ident))
    finally:
        down = _compose(folder, name, env, "down", "-v", "--rmi", "local")
    assert down.returncode == 0, down.stderr
    ports_of = {s: [(p, ip) for p, ip in facts.pop("ports")] for s, facts in ours.items()}
    their_ports = {s: facts.pop("ports") for s, facts in theirs.items()}
    assert ours == theirs  # user, mounts, health check, settings: made alike
    assert ports_of == their_ports == {"database": [], "api": [],
                                       "frontend": [("8080/tcp", "127.0.0.1")]}
    assert ours["database"]["mounts"] == [("bind", "/seed", False), ("volume", "/data", True)]
    assert ours["database"]["user"] == "65534:65534"


def test_a_compose_version_of_demo2_gives_demo2s_answers(project, engine):
    folder = project.root / "exercises/demo2c"
    demo2 = project.root / "exercises/demo2"
    shutil.copytree(demo2 / "db", folder / "db")
    shutil.copytree(demo2 / "server", folder / "server")
    shutil.copy(demo2 / "probe.py", folder / "probe.py")
    for file in ("docker-compose.yml", "exercise.yml"):
        shutil.copy(DATA / file, folder / file)
    try:
        theirs = project.doit("demo2")
        project.forget("demo2:db-image", "demo2:server-image")  # demo 2's tests see a first run
        ours = project.doit("demo2c")
        assert {"demo2c:app.db.image", "demo2c:app.server.image", "demo2c:app.db",
                "demo2c:app.server", "demo2c:answers", "demo2c:db-not-published"} <= \
            set(ours.executed)
        for run in (theirs, ours):
            assert re.search(r"ok: \d+ different translation\(s\), all from the database",
                             run.stdout)
            assert "http://127.0.0.1:8081/ is not reachable from the host" in run.stdout
        valid = set(runpy.run_path(str(demo2 / "db/translations.py"))["TRANSLATIONS"])
        for run in (theirs, ours):  # the answers of both come from the same database
            answered = set(re.findall(r"answered: (.*)$", run.stdout, re.M))
            assert answered and answered <= valid
        _nothing_left(engine, project)
        port = free_port()
        name = re.sub(r"[^a-z0-9]", "", f"{project.prefix}demo2oracle")
        env = _oracle_env(project, DEMO2_PORT=str(port))
        try:
            up = _compose(folder, name, env, "up", "-d", "--build")
            assert up.returncode == 0, up.stdout + up.stderr
            deadline = time.monotonic() + 60
            while True:  # docker-compose up -d does not wait for the last service's health
                probe = subprocess.run(["python3", "probe.py", "answers",
                                        f"http://127.0.0.1:{port}/"], cwd=folder,
                                       capture_output=True, text=True, timeout=60)
                if probe.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert probe.returncode == 0, probe.stdout + probe.stderr
            assert "all from the database" in probe.stdout
        finally:
            _compose(folder, name, env, "down", "-v", "--rmi", "local")
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("key, line", [("privileged: true", "privileged"),
                                       ("network_mode: host", "network_mode")])
def test_a_refused_key_stops_only_its_exercise(project, key, line):
    compose = project.root / "exercises/compose/docker-compose.yml"
    original = compose.read_text()
    compose.write_text(original.replace("    user: \"65534:65534\"",
                                        f"    {key}\n    user: \"65534:65534\""))
    try:
        run = project.doit("demo1", "compose", check=False)
        listing = project.doit("list")
    finally:
        compose.write_text(original)
    assert run.returncode != 0 and "compose" in run.executed
    number = original.splitlines().index('    user: "65534:65534"              # nobody: the '
                                         'image gives it /data') + 1
    assert f"docker-compose.yml:{number} (key 'services.database.{line}')" in \
        run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "demo1:count-native" in run.executed + run.skipped  # the other exercise ran
    marked = [line for line in listing.stdout.splitlines() if line.startswith("compose ")]
    assert len(marked) == 1 and "BROKEN" in marked[0] and "docker-compose.yml:" in marked[0]
