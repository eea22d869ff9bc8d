"""Grading images that attack the grader, on the local engine (the cluster suite grades the
same class on the Swarm): each gets the right row, the host is left as it was, nothing
keeps running, and each check ends within its timeout plus a margin.

The attacks (tests/hostile.py) print the right answer only when they worked, so a breach is a
row "passed". Each attack that a plain ``docker run`` would let through is first run that way
(the control): an attack that cannot succeed anywhere would prove nothing.
"""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
import time

import docker
import pytest
import requests

import hostile
from clones import free_port, leftovers

TIMEOUT = 15  # seconds a student's check may take
MARGIN = 25  # seconds beyond it: doit's start, the pull, the kill and removal
STUDENTS = ["right", "wrong", *hostile.ATTACKS]


@pytest.fixture(scope="module")
def klass(project, engine: docker.DockerClient):
    """The hostile class in the project's registry, a listener on the host's bridge address,
    and a neighbour container on the default bridge (where checks ran before)."""
    project.doit("exercise2")
    base = f"{project.registry}/{project.hub_user}/ac295_playground:exercise2"
    gateway = hostile.bridge_gateway(engine)
    listener = hostile.Listener(gateway)
    listener.start()
    label = {"org.ac295.project": str(project.state.resolve())}
    neighbour = engine.containers.run(base, ["python3", "-m", "http.server", "8000"],
                                      detach=True, labels=label,
                                      name=f"{project.prefix}neighbour")
    neighbour.reload()
    targets = dict(api_hosts=[gateway, "127.0.0.1"], host_address=gateway,
                   host_port=listener.port,
                   neighbour=neighbour.attrs["NetworkSettings"]["IPAddress"])
    for name in hostile.ATTACKS:
        hostile.build(engine, base, name, hostile.script(name, **targets), project.registry)
    hostile.build(engine, base, "right", "print('Answer: 2640')\n", project.registry)
    hostile.build(engine, base, "wrong", "print('Answer: 42')\n", project.registry)
    hostile.write_exercise(project.root, STUDENTS, TIMEOUT)
    yield {"base": base, "listener": listener, "neighbour": neighbour, "targets": targets}
    neighbour.remove(force=True)
    listener.close()
    shutil.rmtree(project.root / "exercises/hostile")
    project.forget("hostile:check", *[f"hostile:check.{s}" for s in STUDENTS])


def results(project) -> dict[str, dict[str, str]]:
    with open(project.state / "hostile/check/results.csv", newline="") as rows:
        return {row["student"]: row for row in csv.DictReader(rows)}


@pytest.mark.parametrize("name", ["host", "scanner", "privileges", "fill", "forks"])
def test_each_attack_works_on_a_container_with_docker_defaults(klass, engine, project, name):
    """The control: ``docker run`` with the engine's defaults lets the attack through."""
    ref = f"{project.registry}/{name}/ac295_playground:exercise2"
    container = engine.containers.run(ref, ["python3", "/app/Question.py"], detach=True,
                                      labels={"org.ac295.project": str(project.state.resolve())})
    try:
        deadline = time.monotonic() + 60
        while hostile.ANSWER not in (printed := container.logs().decode(errors="replace")):
            container.reload()
            assert container.status == "running" and time.monotonic() < deadline, printed
            time.sleep(0.5)
    finally:
        container.remove(force=True)
    if name == "host":
        assert klass["listener"].accepted  # it really reached the host's port
        klass["listener"].accepted.clear()


def test_each_student_gets_the_right_row_in_time_and_leaves_nothing(klass, project, engine):
    started = time.time()
    took = {}
    for student in STUDENTS:
        if student in ("scanner", "listener"):
            continue
        begin = time.monotonic()
        run = project.doit(f"hostile:check.{student}")
        took[student] = time.monotonic() - begin
        assert f"hostile:check.{student}" in run.executed
        assert leftovers(engine, project, f"hostile:check.{student}") == []
        assert hostile.marked_processes() == [], student  # no fork outlives its check
    # two students at once: one listens, the other looks for it (and for the neighbour)
    begin = time.monotonic()
    project.doit("-n", "2", "hostile:check.listener", "hostile:check.scanner")
    took["listener+scanner"] = time.monotonic() - begin
    spans = {}
    for event in engine.events(since=int(started), until=int(time.time()) + 1, decode=True,
                               filters={"label": f"org.ac295.project={project.state.resolve()}",
                                        "event": ["start", "die"]}):
        task = event["Actor"]["Attributes"].get("org.ac295.task", "")
        if task in ("hostile:check.listener", "hostile:check.scanner"):
            spans.setdefault(task, {})[event["status"]] = event["timeNano"]
    listening, scanning = spans["hostile:check.listener"], spans["hostile:check.scanner"]
    assert scanning["start"] < listening["die"] and listening["start"] < scanning["die"]
    table = project.doit("hostile")
    assert table.executed == ["hostile:check"]  # every student graded already

    found = results(project)
    assert list(found) == STUDENTS  # one row each, in roster order, nothing forged in
    expected = hostile.rows(TIMEOUT)
    for student in STUDENTS:
        row = found[student]
        assert (row["result"], row["node"]) == (expected[student].result, "local"), row
        assert re.match(expected[student].reason, row["reason"]), row
        assert row["digest"].startswith("sha256:")
    for student, seconds in took.items():
        bound = TIMEOUT + MARGIN if student in ("forks", "sleeper") else MARGIN
        assert seconds < bound, (student, seconds)
    # the host is as it was: its port saw no one, the neighbour served no one, nothing runs
    assert klass["listener"].accepted == []
    assert b"GET" not in klass["neighbour"].logs(since=int(started))
    assert [c.name for c in leftovers(engine, project)] == [f"{project.prefix}neighbour"]
    assert hostile.marked_processes() == []
    print("FIGURE hostile checks (s): " + ", ".join(f"{k} {v:.1f}" for k, v in took.items()))


CLASS_TIMEOUT = 20
SEVEN = {  # student: (Question.py or None for no image, result, reason as a regex)
    "pass7": ("print('Answer: 2640')\n", "passed", "^$"),
    "wrong7": ("print('Answer: 42')\n", "failed", hostile.WRONG_OUTPUT),
    "crash7": ("raise RuntimeError('boom')\n", "failed",
               r"^exit code 1, expected 0; stdout does not match /\^Answer: 2640\$/$"),
    "hang7": ("import time\ntime.sleep(10 ** 6)\n", "failed",
              rf"^timed out: still running after {CLASS_TIMEOUT} s$"),
    "missing7": (None, "missing", r"^no image \S+/missing7/ac295_playground:exercise2 in the "
                 "registry$"),
    "unpull7": ("print('Answer: 2640')\n", "failed", r"^cannot be pulled: .*unpull7.*"),
    "big7": ("import sys\nsys.stdout.write('x' * (50 << 20))\nprint('\\nAnswer: 2640')\n",
             "failed", r"^output too large: more than 1 MB on stdout$"),
}


def break_last_layer(project, engine: docker.DockerClient, ref: str) -> None:
    """Make ``ref`` unpullable: its last layer's blob goes from the registry's storage, and
    the image from the engine (which would otherwise not need to fetch it)."""
    repository = ref.split("/", 1)[1].rsplit(":", 1)[0]
    manifest = requests.get(f"http://{project.registry}/v2/{repository}/manifests/exercise2",
                            headers={"Accept": "application/vnd.docker.distribution.manifest"
                                     ".v2+json"}, timeout=10).json()
    digest = manifest["layers"][-1]["digest"].split(":")[1]
    blob = project.state / f"registry/data/docker/registry/v2/blobs/sha256/{digest[:2]}/{digest}"
    shutil.rmtree(blob)
    engine.images.remove(ref, force=True)


def test_a_class_of_seven_gets_a_complete_table_within_twice_the_timeout(project, engine):
    """Issue 19: pass, wrong answer, crash, hang, missing, unpullable, 50 MB of output."""
    project.doit("exercise2")
    base = f"{project.registry}/{project.hub_user}/ac295_playground:exercise2"
    for student, (question, _, _) in SEVEN.items():
        if question is not None:
            hostile.build(engine, base, student, question, project.registry,
                                extra=student.encode() if student == "unpull7" else b"")
    break_last_layer(project, engine, f"{project.registry}/unpull7/ac295_playground:exercise2")
    hostile.write_exercise(project.root, list(SEVEN), CLASS_TIMEOUT, name="class7")
    try:
        begin = time.monotonic()
        run = project.doit("class7")  # exit code 0: the table is written, whatever the rows
        took = time.monotonic() - begin
        with open(project.state / "class7/check/results.csv", newline="") as rows:
            found = {row["student"]: row for row in csv.DictReader(rows)}
        assert list(found) == list(SEVEN)
        for student, (_, result, reason) in SEVEN.items():
            assert found[student]["result"] == result, found[student]
            assert re.match(reason, found[student]["reason"]), found[student]
        assert "7 student(s): 1 passed, 5 failed, 1 missing" in run.stdout
        assert took < 2 * CLASS_TIMEOUT + 60, took
        print(f"FIGURE a class of seven graded in {took:.1f} s (timeout {CLASS_TIMEOUT} s)")
        assert [c for c in leftovers(engine, project)
                if c.labels.get("org.ac295.task", "").startswith("class7:")] == []

        # the grader itself cannot run (its registry does not answer): exit 1, and it says so
        env = dict(project.env, AC295_REGISTRY=f"127.0.0.1:{free_port()}",
                   AC295_REGISTRY_SERVICE="external")
        down = subprocess.run([str(project.root / "script/doit"), "class7"], cwd=project.root,
                              env=env, capture_output=True, text=True, timeout=300)
        assert down.returncode == 1, down.stdout[-2000:]
        assert "does not answer" in down.stdout
    finally:
        shutil.rmtree(project.root / "exercises/class7")
        project.forget("class7:check", *[f"class7:check.{s}" for s in SEVEN])


ISOLATED = """\
doc: one-shot runs, isolated unless they ask
steps:
  image: {pull: "{registry}/{hub_user}/ac295_playground:exercise2"}
  write:
    run: image
    command: [sh, -c, "echo x > /app/x && echo wrote"]
    expect: {stdout: ["^wrote$"]}
  write-asked:
    run: image
    command: [sh, -c, "echo x > /app/x && echo wrote"]
    expect: {stdout: ["^wrote$"]}
    writable: true
  who:
    run: image
    command: [sh, -c, "id -u; echo x > /tmp/x && echo tmp"]
    expect: {stdout: ["^1000$", "^tmp$"]}
    user: "1000"
  net:
    run: image
    command: [python3, -c, "import socket; socket.create_connection(('192.0.2.1', 80), 2)"]
"""


def test_a_run_step_is_isolated_unless_it_asks_and_says_so_when_it_fails(project):
    project.doit("exercise2")
    folder = project.root / "exercises/isolated"
    folder.mkdir()
    (folder / "exercise.yml").write_text(ISOLATED)
    try:
        write = project.doit("isolated:write", check=False)
        assert write.returncode == 1
        assert "Read-only file system" in write.stdout
        assert "- its root file system is read-only: write under /tmp (64 MB), or add " \
               "'writable: true' to the step" in write.stdout
        assert "wrote" in project.doit("isolated:write-asked").stdout
        project.doit("isolated:who")  # uid 1000, whatever the image says; /tmp is writable
        assert project.record("isolated:who")["stdout"] == "1000\ntmp\n"
        net = project.doit("isolated:net", check=False)
        assert net.returncode == 1 and "- it has no network: name a network step with " \
            "'network:'" in net.stdout
    finally:
        shutil.rmtree(folder)
        project.forget(*[f"isolated:{s}" for s in ("image", "write", "write-asked", "who",
                                                    "net")])
