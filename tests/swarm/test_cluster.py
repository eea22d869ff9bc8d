"""Cluster mode on a real Swarm of three engines on this machine (script/cluster up 3).

The tests run in file order on the session's project copy: the cluster comes up, exercise 2
and demo 2 run on it, a class of 30 is graded (20 right, 5 wrong, 5 missing), a node is
drained mid-grade, the throughput of 1 and 3 nodes is timed, and `down` leaves nothing.
Run them alone with `script/test -m cluster` (about 8 minutes).
"""
from __future__ import annotations

import csv
import dataclasses
import subprocess
import time

import docker
import pytest

from tasks.cluster import nodes
from tasks.engine.client import Engine

RIGHT = [f"s{n:02d}" for n in range(20)]
WRONG = [f"w{n:02d}" for n in range(5)]
MISSING = [f"m{n:02d}" for n in range(5)]
CLASS = RIGHT + WRONG + MISSING


def cluster_command(project, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([str(project.root / "script/cluster"), *args], cwd=project.root,
                          env=project.env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cluster(project):
    made = cluster_command(project, "up", "3")
    assert made.returncode == 0, made.stderr[-3000:]
    yield made
    cluster_command(project, "down")


@pytest.fixture(scope="module")
def swarm(project):
    """The same project copy, in cluster mode."""
    return dataclasses.replace(project, env=dict(project.env, AC295_CLUSTER="swarm"))


def manager() -> docker.DockerClient:
    found = nodes.current(Engine())
    assert found is not None
    return docker.DockerClient(base_url=found.manager)


def ours(client: docker.DockerClient) -> list[str]:
    return [c.name for c in client.containers.list(all=True,
                                                   filters={"label": "org.ac295.cluster"})]


def test_up_makes_three_ready_nodes_and_a_second_up_changes_nothing(cluster, project, engine):
    rows = [line for line in cluster.stdout.splitlines() if line.startswith(nodes.PREFIX)]
    assert len(rows) == 3 and all(" ready " in row for row in rows), cluster.stdout
    before = {c.name: c.id for c in engine.containers.list(
        all=True, filters={"label": "org.ac295.cluster"})}
    again = cluster_command(project, "up", "3")
    assert again.returncode == 0 and "swarm join" not in again.stderr
    assert {c.name: c.id for c in engine.containers.list(
        all=True, filters={"label": "org.ac295.cluster"})} == before


def test_exercise2_and_demo2_run_on_the_swarm_with_the_same_records(cluster, project, swarm):
    project.doit("exercise2")
    local = project.record("exercise2:question")
    project.state.joinpath("records/exercise2/question.json").unlink()
    run = swarm.doit("exercise2")
    assert "exercise2:question" in run.executed
    assert f"(ran on {nodes.PREFIX}node-" in run.stdout
    assert swarm.record("exercise2:question") == local  # the same result, wherever it ran
    assert swarm.doit("exercise2").executed == []  # a null build on the cluster runs nothing
    demo = swarm.doit("demo2")
    assert "3 different translation" in demo.stdout or "different translation" in demo.stdout
    assert f"runs on {nodes.PREFIX}node-" in demo.stdout
    client = manager()
    assert [s.name for s in client.services.list()] == []  # removed at the end of the run
    assert [n.name for n in client.networks.list() if n.name.endswith("helloNetwork")] == []


def plant(project, engine: docker.DockerClient) -> None:
    """The class's images in the project's registry: right (exercise 2's), wrong (another
    answer), missing (none)."""
    right = engine.images.get(f"{project.registry}/{project.hub_user}/ac295_playground:"
                              "exercise2")
    container = engine.containers.create(right.id, ["sh", "-c", "echo 'print(\"Answer: 42\")'"
                                                     " > /app/Question.py"])
    container.start()
    container.wait()
    wrong = container.commit()
    container.remove()
    for student, image in [(s, right) for s in RIGHT] + [(s, wrong) for s in WRONG]:
        repository = f"{project.registry}/{student}/ac295_playground"
        image.tag(repository, "exercise2")
        for chunk in engine.api.push(repository, tag="exercise2", stream=True, decode=True):
            assert "error" not in chunk, chunk


def table(project) -> dict[str, dict[str, str]]:
    with open(project.state / "grade/check/results.csv", newline="") as rows:
        return {row["student"]: row for row in csv.DictReader(rows)}


def forget_grades(project) -> None:
    for record in (project.state / "records/grade").glob("check.*.json"):
        record.unlink()


def test_grade_30_students_across_the_nodes(cluster, project, swarm, engine):
    swarm.doit("exercise2")
    plant(project, engine)
    (project.root / "exercises/grade/roster.yml").write_text(
        "students:\n" + "".join(f"  - {s}\n" for s in CLASS))
    run = swarm.doit("grade")
    assert len([t for t in run.executed if t.startswith("grade:check.")]) == 30
    found = table(project)
    assert sorted(found) == sorted(CLASS)
    assert {s: found[s]["result"] for s in CLASS} == \
        {**{s: "passed" for s in RIGHT}, **{s: "failed" for s in WRONG},
         **{s: "missing" for s in MISSING}}
    assert all("Answer" in found[s]["reason"] for s in WRONG)
    assert all("no image" in found[s]["reason"] for s in MISSING)
    assert all(found[s]["digest"].startswith("sha256:") for s in RIGHT + WRONG)
    ran_on = {found[s]["node"] for s in RIGHT + WRONG}
    assert len(ran_on) >= 2 and all(n.startswith(f"{nodes.PREFIX}node-") for n in ran_on)


def test_a_regrade_reruns_only_the_changed_student(cluster, project, swarm, engine):
    wrong = engine.images.get(f"{project.registry}/{WRONG[0]}/ac295_playground:exercise2")
    wrong.tag(f"{project.registry}/{RIGHT[0]}/ac295_playground", "exercise2")
    for chunk in engine.api.push(f"{project.registry}/{RIGHT[0]}/ac295_playground",
                                 tag="exercise2", stream=True, decode=True):
        assert "error" not in chunk
    run = swarm.doit("grade")
    assert sorted(run.executed) == sorted([f"grade:check.{RIGHT[0]}", "grade:check"])
    assert table(project)[RIGHT[0]]["result"] == "failed"


def test_a_node_drained_mid_grade_leaves_the_table_complete(cluster, project, swarm):
    forget_grades(project)
    grading = subprocess.Popen([str(project.root / "script/doit"), "grade"], cwd=project.root,
                               env=swarm.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    while len(list((project.state / "records/grade").glob("check.*.json"))) < 4:
        assert grading.poll() is None, grading.stdout.read() if grading.stdout else ""
        time.sleep(0.2)
    client = manager()
    drained = next(n for n in client.nodes.list()
                   if n.attrs["Description"]["Hostname"] == nodes.node_name(2))
    drained.update(dict(drained.attrs["Spec"], Availability="drain"))
    since = time.time()
    try:
        output, _ = grading.communicate(timeout=900)
        assert grading.returncode == 0, output[-3000:]
    finally:
        drained.reload()
        drained.update(dict(drained.attrs["Spec"], Availability="active"))
    found = table(project)
    assert sorted(found) == sorted(CLASS)
    assert all(found[s]["result"] in ("passed", "failed") for s in RIGHT + WRONG)
    assert time.time() >= since


def test_throughput_of_one_and_three_nodes(cluster, project, swarm):
    """FIGURE: students graded per minute (doit -n 3: three checks at a time)."""
    per_minute = {}
    for count in (3, 1, 3):
        assert cluster_command(project, "up", str(count)).returncode == 0
        forget_grades(project)
        start = time.monotonic()
        swarm.doit("-n", "3", "grade")
        per_minute.setdefault(count, []).append(len(CLASS) / (time.monotonic() - start) * 60)
        assert len(table(project)) == len(CLASS)
    print(f"FIGURE grade throughput: 1 node {per_minute[1][0]:.0f} students/min, 3 nodes "
          f"{max(per_minute[3]):.0f} students/min ({len(CLASS)} students, doit -n 3)")


def test_down_leaves_nothing_behind(cluster, project, engine):
    done = cluster_command(project, "down")
    assert done.returncode == 0, done.stderr
    assert ours(engine) == []
    assert [n.name for n in engine.networks.list() if n.name.startswith(nodes.PREFIX)] == []
    assert [v.name for v in engine.volumes.list() if v.name.startswith(nodes.PREFIX)] == []
    assert nodes.current(Engine()) is None
