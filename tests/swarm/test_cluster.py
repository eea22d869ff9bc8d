"""Cluster mode on a real Swarm of three engines on this machine (script/cluster up 3).

The tests run in file order on the session's project copy: the cluster comes up; its engines
answer only TLS clients with the cluster's certificate (from the host and from inside a
node), and open nothing but that and Swarm's ports; exercise 2 and demo 2 run on it; a class
of 30 is graded (20 right, 5 wrong, 5 missing) over the nodes; a node is drained mid-grade;
the hostile class of tests/hostile.py is graded on the Swarm; the throughput of 1 and 3 nodes
is timed; and `down` leaves nothing. Which node ran what is read from the nodes' own engines
(their container start events), not from the project's notes.
Run them alone with `script/test -m cluster` (about 15 minutes on 2 cores).
"""
from __future__ import annotations

import csv
import dataclasses
import json
import re
import stat
import subprocess
import time
from contextlib import closing
from pathlib import Path

import docker
import docker.tls
import pytest

import hostile
from tasks.cluster import nodes
from tasks.engine.client import Engine

RIGHT = [f"s{n:02d}" for n in range(20)]
WRONG = [f"w{n:02d}" for n in range(5)]
MISSING = [f"m{n:02d}" for n in range(5)]
CLASS = RIGHT + WRONG + MISSING
EXPECTED = {**{s: "passed" for s in RIGHT}, **{s: "failed" for s in WRONG},
            **{s: "missing" for s in MISSING}}
SWARM_PORTS = {2377, 7946, 4789}  # the manager's, the gossip's, VXLAN's


def cluster_command(project, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
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


def tls_folder(project) -> Path:
    return project.state / "cluster" / "tls"


def addresses() -> dict[str, str]:
    found = nodes.current(Engine())
    assert found is not None
    return found.nodes


def engine_of(project, address: str) -> docker.DockerClient:
    """A node's engine, asked with the project's client certificate (the test's own client)."""
    tls = tls_folder(project)
    config = docker.tls.TLSConfig(client_cert=(str(tls / "cert.pem"), str(tls / "key.pem")),
                                  ca_cert=str(tls / "ca.pem"), verify=True)
    client = docker.DockerClient(base_url=f"tcp://{address}:2376", tls=config, version="1.41")
    client.api.trust_env = False  # $REQUESTS_CA_BUNDLE would replace the cluster's CA
    return client


def manager(project) -> docker.DockerClient:
    return engine_of(project, addresses()[nodes.node_name(1)])


def ours(client: docker.DockerClient) -> list[str]:
    return [c.name for c in client.containers.list(all=True,
                                                   filters={"label": "org.ac295.cluster"})]


def starts(project, since: float) -> list[tuple[int, str, str]]:
    """(time in ns, node, task) of every container a task of the project started on the
    nodes since ``since``, in time order: the nodes' engines say so themselves."""
    found = []
    for name, address in addresses().items():
        with closing(engine_of(project, address)) as node:
            for event in node.events(since=int(since), until=int(time.time()) + 1, decode=True,
                                     filters={"type": "container", "event": "start",
                                              "label": "org.ac295.task"}):
                found.append((event["timeNano"], name,
                              event["Actor"]["Attributes"]["org.ac295.task"]))
    return sorted(found)


# --- the cluster and its certificates -------------------------------------------------------

def test_up_makes_three_ready_nodes_and_a_second_up_changes_nothing(cluster, project, engine):
    rows = [line for line in cluster.stdout.splitlines() if line.startswith(nodes.PREFIX)]
    assert len(rows) == 3 and all(" ready " in row for row in rows), cluster.stdout
    before = {c.name: c.id for c in engine.containers.list(
        all=True, filters={"label": "org.ac295.cluster"})}
    again = cluster_command(project, "up", "3")
    assert again.returncode == 0 and "swarm join" not in again.stderr
    assert {c.name: c.id for c in engine.containers.list(
        all=True, filters={"label": "org.ac295.cluster"})} == before
    tls = tls_folder(project)
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    keys = sorted(tls.rglob("*key.pem"))
    assert len(keys) == 1 + 1 + 3 + 1  # the CA's, the project's, each node's, the registry's
    assert all(stat.S_IMODE(key.stat().st_mode) == 0o600 for key in keys)


REQUEST = b"GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
CATALOG = b"GET /v2/_catalog HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

#: Asks host:port for a listing over plain TCP, over TLS without a client certificate, and
#: over TLS with one (given): the answer's status line, or the error's name. Run on the host
#: and, as a script, in a container inside a node.
ASK = '''
import socket, ssl
def ask(host, port, request, tls=None, ca=None, cert=None):
    try:
        raw = socket.create_connection((host, port), timeout=5)
    except OSError as err:
        return type(err).__name__
    try:
        if tls:
            context = ssl.create_default_context(cafile=ca) if ca else \\
                ssl._create_unverified_context()
            context.check_hostname = False
            if cert:
                context.load_cert_chain(*cert)
            raw = context.wrap_socket(raw)
        raw.sendall(request)
        line = raw.recv(200).split(b"\\r\\n")[0].decode(errors="replace")
        return line or "closed"
    except (OSError, ssl.SSLError) as err:
        return type(err).__name__
    finally:
        raw.close()
'''
_scope: dict = {}
exec(ASK, _scope)
ask = _scope["ask"]


def refused(answer: str) -> bool:
    """Nothing was listed: no answer, or an answer that is not a success."""
    return not answer.startswith("HTTP/1") or " 200 " not in answer + " "


def test_the_engines_and_the_registry_answer_only_the_clusters_certificate(cluster, project):
    tls = tls_folder(project)
    mine = (str(tls / "cert.pem"), str(tls / "key.pem"))
    registry = str(nodes.current(Engine()).nodes[nodes.node_name(1)]).rsplit(".", 1)[0] + ".2"
    for address in addresses().values():
        assert ask(address, 2375, REQUEST) == "ConnectionRefusedError"  # no plain port
        assert ask(address, 2376, REQUEST).startswith("HTTP/1.0 400")  # reached: TLS only
        assert refused(ask(address, 2376, REQUEST, tls=True))  # no client certificate
        assert ask(address, 2376, REQUEST, True, str(tls / "ca.pem"), mine) == "HTTP/1.1 200 OK"
    assert refused(ask(registry, 5000, CATALOG))
    assert refused(ask(registry, 5000, CATALOG, tls=True))
    assert ask(registry, 5000, CATALOG, True, str(tls / "ca.pem"), mine) == "HTTP/1.1 200 OK"


def test_a_container_inside_a_node_cannot_list_anything(cluster, project, engine):
    """A container with a network (an attachable overlay: what a service gets) reaches the
    engines' and the registry's ports, and gets nothing from them."""
    found = nodes.current(Engine())
    base = f"{found.registry_push}/ac295/probe:1"
    engine.images.get(nodes.NODE_IMAGE).tag(base)  # Debian with python3
    for chunk in engine.api.push(base, stream=True, decode=True):
        assert "error" not in chunk, chunk
    registry = found.nodes[nodes.node_name(1)].rsplit(".", 1)[0] + ".2"
    script = ASK + (f"import json\nanswers = {{}}\nfor a in {list(found.nodes.values())}:\n"
                    "    answers[a] = [ask(a, p, " + repr(REQUEST) + ", t) for p, t in "
                    "((2375, None), (2376, None), (2376, True))]\n"
                    f"answers['registry'] = [ask({registry!r}, 5000, {CATALOG!r}, t) "
                    "for t in (None, True)]\nprint(json.dumps(answers))\n")
    with closing(manager(project)) as node:
        network = node.networks.create("ac295-test-probe", driver="overlay", attachable=True)
        try:
            output = node.containers.run(f"{found.registry_pull}/ac295/probe:1",
                                         entrypoint=["python3", "-c", script],
                                         network=network.name, remove=True)
        finally:
            network.remove()
    answers = json.loads(output.decode().strip().splitlines()[-1])
    for address in found.nodes.values():
        plain, tls_port, tls_no_cert = answers[address]
        assert plain in ("ConnectionRefusedError", "TimeoutError", "timeout"), answers
        assert tls_port.startswith("HTTP/1.0 400"), answers  # it reached the port: TLS only
        assert refused(tls_no_cert), answers
    assert all(refused(a) for a in answers["registry"]), answers


def listening(engine: docker.DockerClient, name: str) -> set[int]:
    """The ports container ``name`` listens on (TCP and UDP), as ``ss`` inside it says,
    but for the outer engine's DNS (127.0.0.11, inside the container only)."""
    listing = engine.containers.get(name).exec_run(["ss", "-Hltnu"]).output.decode()
    found = set()
    for line in listing.splitlines():
        local = line.split()[4]  # Netid State Recv-Q Send-Q Local Peer
        if not local.startswith("127.0.0.11:"):
            found.add(int(local.rsplit(":", 1)[1]))
    return found


def test_nodes_open_only_their_engines_tls_port_and_swarms(cluster, engine):
    for name in addresses():
        ports = listening(engine, name)
        assert 2376 in ports and ports <= {2376} | SWARM_PORTS, (name, ports)
        assert (2377 in ports) == (name == nodes.node_name(1))  # the manager's only
    assert listening(engine, nodes.REGISTRY_CONTAINER) == {5000}


# --- exercises and a class on the Swarm -----------------------------------------------------

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
    assert re.search(r"ok: \d+ different translation", demo.stdout), demo.stdout[-2000:]
    assert f"runs on {nodes.PREFIX}node-" in demo.stdout
    with closing(manager(project)) as client:
        assert [s.name for s in client.services.list()] == []  # removed at the end of the run
        assert [n.name for n in client.networks.list()
                if n.name.endswith("helloNetwork")] == []


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


def table(project, exercise: str = "grade") -> dict[str, dict[str, str]]:
    with open(project.state / exercise / "check/results.csv", newline="") as rows:
        return {row["student"]: row for row in csv.DictReader(rows)}


def forget_grades(project) -> None:
    for record in (project.state / "records/grade").glob("check.*.json"):
        record.unlink()


def test_grade_30_students_across_the_nodes(cluster, project, swarm, engine):
    swarm.doit("exercise2")
    plant(project, engine)
    (project.root / "exercises/grade/roster.yml").write_text(
        "students:\n" + "".join(f"  - {s}\n" for s in CLASS))
    since = time.time()
    run = swarm.doit("grade")
    assert len([t for t in run.executed if t.startswith("grade:check.")]) == 30
    found = table(project)
    assert list(found) == CLASS
    assert {s: found[s]["result"] for s in CLASS} == EXPECTED
    assert all("Answer" in found[s]["reason"] for s in WRONG)
    assert all("no image" in found[s]["reason"] for s in MISSING)
    assert all(found[s]["digest"].startswith("sha256:") for s in RIGHT + WRONG)
    started = starts(project, since)  # the nodes' own account
    assert sorted(task for _, _, task in started) == \
        sorted(f"grade:check.{s}" for s in RIGHT + WRONG)  # one run each, none for missing
    ran_on = {node for _, node, _ in started}
    assert len(ran_on) >= 2, started
    assert {found[task.split(".", 1)[1]]["node"] for _, _, task in started} == ran_on


def test_a_regrade_reruns_only_the_changed_student(cluster, project, swarm, engine):
    wrong = engine.images.get(f"{project.registry}/{WRONG[0]}/ac295_playground:exercise2")
    wrong.tag(f"{project.registry}/{RIGHT[0]}/ac295_playground", "exercise2")
    for chunk in engine.api.push(f"{project.registry}/{RIGHT[0]}/ac295_playground",
                                 tag="exercise2", stream=True, decode=True):
        assert "error" not in chunk
    run = swarm.doit("grade")
    assert sorted(run.executed) == sorted([f"grade:check.{RIGHT[0]}", "grade:check"])
    assert table(project)[RIGHT[0]]["result"] == "failed"
    EXPECTED[RIGHT[0]] = "failed"


def test_a_node_drained_mid_grade_ran_jobs_before_and_none_after(cluster, project, swarm):
    """doit grades one student at a time: when the drain is acknowledged, at most one job is
    on its way; every job started after that one went to the other nodes."""
    forget_grades(project)
    since = time.time()
    grading = subprocess.Popen([str(project.root / "script/doit"), "grade"], cwd=project.root,
                               env=swarm.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    drained_name = nodes.node_name(2)
    try:
        while len(list((project.state / "records/grade").glob("check.*.json"))) < 6:
            assert grading.poll() is None, grading.stdout.read() if grading.stdout else ""
            time.sleep(0.2)
        with closing(manager(project)) as client:
            drained = next(n for n in client.nodes.list()
                           if n.attrs["Description"]["Hostname"] == drained_name)
            drained.update(dict(drained.attrs["Spec"], Availability="drain"))
            drained_at = time.time_ns()
            graded_then = len(list((project.state / "records/grade").glob("check.*.json")))
            output, _ = grading.communicate(timeout=1200)
            assert grading.returncode == 0, output[-3000:]
            drained.reload()
            drained.update(dict(drained.attrs["Spec"], Availability="active"))
    finally:
        if grading.poll() is None:
            grading.kill()
    assert graded_then < len(RIGHT + WRONG)  # the drain came while grading ran
    found = table(project)
    assert {s: found[s]["result"] for s in CLASS} == EXPECTED
    started = starts(project, since)
    before = [node for at, node, _ in started if at < drained_at]
    after = [node for at, node, _ in started if at > drained_at]
    assert drained_name in before, started
    assert len(after) >= 10 and drained_name not in after[1:], started  # [0]: on its way


def test_a_hostile_class_on_the_swarm(cluster, project, swarm, engine):
    """tests/hostile.py's class, graded as Swarm jobs: the right rows, in time, nothing left
    on the nodes or the host. The attacks that need a network are first shown to work from a
    container on an overlay network (the control)."""
    timeout, margin = 15, 45
    students = ["right", "wrong", *hostile.ATTACKS]
    found = nodes.current(Engine())
    base = f"{project.registry}/{project.hub_user}/ac295_playground:exercise2"
    gateway = found.nodes[nodes.node_name(1)].rsplit(".", 1)[0] + ".1"  # the host, there
    listener = hostile.Listener(gateway)
    listener.start()
    with closing(manager(project)) as client:
        overlay = client.networks.create("ac295-test-neighbours", driver="overlay",
                                         attachable=True)
    with closing(engine_of(project, found.nodes[nodes.node_name(2)])) as node:
        pushed = f"{found.registry_push}/ac295/neighbour:1"
        engine.images.get(base).tag(pushed)
        for chunk in engine.api.push(pushed, stream=True, decode=True):
            assert "error" not in chunk, chunk
        neighbour = node.containers.run(f"{found.registry_pull}/ac295/neighbour:1",
                                        ["python3", "-m", "http.server", "8000"], detach=True,
                                        network=overlay.name)
        neighbour.reload()
        address = neighbour.attrs["NetworkSettings"]["Networks"][overlay.name]["IPAddress"]
    targets = dict(api_hosts=[*found.nodes.values(), gateway], host_address=gateway,
                   host_port=listener.port, neighbour=address)
    try:
        for name in hostile.ATTACKS:
            hostile.build(engine, base, name, hostile.script(name, **targets), project.registry)
        hostile.build(engine, base, "right", "print('Answer: 2640')\n", project.registry)
        hostile.build(engine, base, "wrong", "print('Answer: 42')\n", project.registry)
        hostile.write_exercise(project.root, students, timeout)
        # the control: on the overlay, with Docker's defaults, these attacks get through
        with closing(manager(project)) as client:
            for name in ("host", "scanner"):
                ref = f"{found.registry_push}/ac295/control-{name}:1"
                engine.images.get(f"{project.registry}/{name}/ac295_playground:exercise2"
                                  ).tag(ref)
                for chunk in engine.api.push(ref, stream=True, decode=True):
                    assert "error" not in chunk, chunk
                printed = client.containers.run(ref.replace(found.registry_push,
                                                            found.registry_pull),
                                                ["python3", "/app/Question.py"],
                                                network=overlay.name, remove=True)
                assert hostile.ANSWER in printed.decode(), (name, printed)
        assert listener.accepted
        listener.accepted.clear()

        since = time.time()
        took = {}
        for student in students:
            if student in ("scanner", "listener"):
                continue
            begin = time.monotonic()
            swarm.doit(f"hostile:check.{student}")
            took[student] = time.monotonic() - begin
            assert hostile.marked_processes() == [], student
        begin = time.monotonic()
        swarm.doit("-n", "2", "hostile:check.listener", "hostile:check.scanner")
        took["listener+scanner"] = time.monotonic() - begin
        assert swarm.doit("hostile").executed == ["hostile:check"]
        rows = table(project, "hostile")
        assert list(rows) == students
        expected = hostile.rows(timeout)
        for student in students:
            assert rows[student]["result"] == expected[student].result, rows[student]
            assert re.match(expected[student].reason, rows[student]["reason"]), rows[student]
            assert rows[student]["node"].startswith(nodes.PREFIX), rows[student]
        for student, seconds in took.items():
            bound = timeout + margin if student in ("forks", "sleeper") else margin
            assert seconds < bound, (student, seconds)
        started = starts(project, since)  # each check ran once, where its row says
        assert sorted((task, node) for _, node, task in started) == sorted(
            (f"hostile:check.{s}", rows[s]["node"]) for s in students)
        assert listener.accepted == []
        with closing(engine_of(project, found.nodes[nodes.node_name(2)])) as node:
            assert b"GET" not in node.containers.get(neighbour.id).logs(since=int(since))
        with closing(manager(project)) as client:
            assert [s.name for s in client.services.list()] == []
        for address in found.nodes.values():
            with closing(engine_of(project, address)) as node:
                assert [c.name for c in node.containers.list(
                    all=True, filters={"label": "org.ac295.task"})] == []
        assert hostile.marked_processes() == []
        print("FIGURE hostile checks on the Swarm (s): " +
              ", ".join(f"{k} {v:.1f}" for k, v in took.items()))
    finally:
        listener.close()
        with closing(engine_of(project, found.nodes[nodes.node_name(2)])) as node:
            node.containers.get(neighbour.id).remove(force=True)
        with closing(manager(project)) as client:
            client.networks.get(overlay.id).remove()
        (project.root / "exercises/hostile/exercise.yml").unlink(missing_ok=True)
        (project.root / "exercises/hostile/roster.yml").unlink(missing_ok=True)
        (project.root / "exercises/hostile").rmdir()


def test_throughput_of_one_and_three_nodes(cluster, project, swarm):
    """FIGURE: students graded per minute (doit -n 3: three checks at a time); each grade
    gives the same table."""
    per_minute: dict[int, list[float]] = {}
    for count in (3, 1, 3):
        assert cluster_command(project, "up", str(count)).returncode == 0
        forget_grades(project)
        since = time.time()
        start = time.monotonic()
        run = swarm.doit("-n", "3", "grade")
        per_minute.setdefault(count, []).append(len(CLASS) / (time.monotonic() - start) * 60)
        found = table(project)
        assert {s: found[s]["result"] for s in CLASS} == EXPECTED
        spread = sorted({found[s]["node"] for s in RIGHT + WRONG})
        assert len(spread) == 1 if count == 1 else len(spread) >= 2, \
            (count, spread, starts(project, since), run.stdout[-3000:])
    print(f"FIGURE grade throughput: 1 node {per_minute[1][0]:.0f} students/min, 3 nodes "
          f"{max(per_minute[3]):.0f} students/min ({len(CLASS)} students, doit -n 3)")


def test_down_leaves_nothing_behind(cluster, project, engine):
    done = cluster_command(project, "down")
    assert done.returncode == 0, done.stderr
    assert ours(engine) == []
    assert [n.name for n in engine.networks.list() if n.name.startswith(nodes.PREFIX)] == []
    assert [v.name for v in engine.volumes.list() if v.name.startswith(nodes.PREFIX)] == []
    assert nodes.current(Engine()) is None
    assert not tls_folder(project).exists()  # the certificates go with the cluster
