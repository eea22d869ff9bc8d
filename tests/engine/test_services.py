"""Services and networks against a spec'd fake engine: the removal guard, stale networks."""
from __future__ import annotations

from typing import Any
from unittest import mock

import docker
import docker.errors
import pytest

from helpers import fake_engine as _fake_engine
from tasks.engine import services
from tasks.engine.client import LABEL_PROJECT, LABEL_TASK, Engine
from tasks.engine.services import LABEL_EPHEMERAL
from tasks.errors import EngineError

PROJECT = "/p/.ac295"


# --- _remove_container against a spec'd fake engine -----------------------------------------

def fake_engine(attrs: dict[str, Any] | Exception) -> tuple[Engine, mock.Mock]:
    """An Engine whose client's inspect_container returns ``attrs`` (or raises it)."""
    engine, client = _fake_engine(project_dir=PROJECT)
    if isinstance(attrs, Exception):
        client.api.inspect_container.side_effect = attrs
    else:
        client.api.inspect_container.return_value = attrs
    return engine, client.api


def container(labels: dict[str, str] | None) -> dict[str, Any]:
    return {"Id": "c0ffee", "Name": "/demo2-db", "Config": {"Labels": labels}}


OURS = {LABEL_EPHEMERAL: "1", LABEL_TASK: "demo2:db", LABEL_PROJECT: PROJECT}


def test_removes_our_container():
    engine, api = fake_engine(container(dict(OURS)))
    assert services._remove_container(engine, "demo2-db", "demo2:db") is True
    api.inspect_container.assert_called_once_with("demo2-db")
    api.remove_container.assert_called_once_with("c0ffee", force=True)


@pytest.mark.parametrize("labels", [
    {LABEL_TASK: "demo2:db", LABEL_PROJECT: PROJECT},  # a one-shot container, not a service
    {**OURS, LABEL_EPHEMERAL: "0"},
    {**OURS, LABEL_TASK: "demo2:server"},  # another step's service
    {**OURS, LABEL_PROJECT: "/elsewhere/.ac295"},  # another clone on the same engine
    {},
    None,
])
def test_refuses_a_container_this_project_did_not_make(labels):
    engine, api = fake_engine(container(labels))
    with pytest.raises(EngineError) as info:
        services._remove_container(engine, "demo2-db", "demo2:db")
    assert "demo2-db" in str(info.value) and "did not make it" in str(info.value)
    api.remove_container.assert_not_called()


def test_refuses_a_container_without_config():
    engine, api = fake_engine({"Id": "c0ffee", "Config": None})
    with pytest.raises(EngineError):
        services._remove_container(engine, "demo2-db", "demo2:db")
    api.remove_container.assert_not_called()


def test_no_such_container():
    engine, api = fake_engine(docker.errors.NotFound("no such container: demo2-db"))
    assert services._remove_container(engine, "demo2-db", "demo2:db") is False
    api.remove_container.assert_not_called()


def test_container_gone_between_inspect_and_remove():
    engine, api = fake_engine(container(dict(OURS)))
    api.remove_container.side_effect = docker.errors.NotFound("gone")
    assert services._remove_container(engine, "demo2-db", "demo2:db") is False


def test_stop_removes_the_service_by_its_name():
    engine, api = fake_engine(container(dict(OURS)))
    lines: list[str] = []
    services.stop(engine, "demo2-db", "demo2:db", lines.append)
    api.inspect_container.assert_called_once_with("demo2-db")
    assert lines == ["service demo2-db removed"]


def test_create_network_refuses_a_network_this_project_did_not_make():
    client = mock.Mock(spec=docker.DockerClient)
    stale = mock.Mock(attrs={"Labels": {LABEL_TASK: "ex:net"}}, containers=[])
    stale.name = "helloNetwork"
    client.networks = mock.Mock()
    client.networks.list.return_value = [stale]
    engine = Engine(factory=lambda: client, project=PROJECT)
    with pytest.raises(EngineError, match="did not make it"):
        services.create_network(engine, "helloNetwork", "ex:net", lambda line: None)
    stale.remove.assert_not_called()
    client.networks.create.assert_not_called()


# --- wait_ready: one polling loop for local containers and Swarm services ------------------

def test_ready_once_the_log_line_appears():
    said = iter(["starting", "starting", "Serving HTTP on 0.0.0.0"])
    told: list[str] = []
    services.wait_ready("ex:web", "web", services.Probe(log="^Serving HTTP", timeout=5),
                        lambda: next(said), lambda: None, told.append, interval=0)
    assert told == ["service web is ready"]


def test_not_ready_in_time_names_the_probe_and_shows_the_logs():
    with pytest.raises(services.ServiceError) as err:
        services.wait_ready("ex:web", "web", services.Probe(log="^never", timeout=0),
                            lambda: "still starting", lambda: None, print, where=" on the cluster",
                            interval=0)
    text = str(err.value)
    assert "ex:web: the service was not ready on the cluster within 0 s" in text
    assert "'ready: log: ^never' matched no line of its log" in text
    assert text.endswith("--- logs ---\nstill starting") and "None" not in text


def test_an_http_probe_says_what_it_got_and_never_names_a_missing_log_probe():
    import socket
    with socket.socket() as closed:  # a port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(services.ServiceError) as err:
        services.wait_ready("ex:web", "web", services.Probe(http=url, timeout=0),
                            lambda: "", lambda: None, print, interval=0)
    text = str(err.value)
    assert f"'ready: http: {url}' got no answer (connection refused)." in text, text
    assert "log" not in text.split("---")[0] and "None" not in text
    assert text.endswith("--- logs ---\n(it printed nothing)")


def test_an_http_probe_that_answers_500_says_so():
    import http.server
    import threading

    class Failing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(503)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        with pytest.raises(services.ServiceError) as err:
            services.wait_ready("ex:web", "web", services.Probe(log="up", http=url, timeout=0),
                                lambda: "up", lambda: None, print, interval=0)
    finally:
        server.shutdown()
    text = str(err.value)
    assert "'ready: log: up' matched" in text
    assert f"'ready: http: {url}' got HTTP 503 Service Unavailable (ready means a status " \
        "below 500)" in text


# --- a published port that something holds ---------------------------------------------

TAKEN = ("driver failed programming external connectivity on endpoint x-ex-web (abc): Bind "
         "for 127.0.0.1:8082 failed: port is already allocated")
IN_USE = ("driver failed programming external connectivity on endpoint x-ex-web (abc): Error "
          "starting userland proxy: listen tcp4 127.0.0.1:8082: bind: address already in use")


@pytest.mark.parametrize("explanation, holder", [
    (TAKEN, "the container other-web publishes it"),
    (IN_USE, "another program on this machine listens there (`ss -ltnp 'sport = :8082'`"),
])
def test_a_taken_port_names_the_step_its_ports_line_and_the_holder(explanation, holder):
    engine, client = _fake_engine(project_dir=PROJECT)
    client.api.inspect_container.side_effect = docker.errors.NotFound("none")
    made = mock.Mock(id="new")
    made.start.side_effect = docker.errors.APIError("500", explanation=explanation)
    client.containers = mock.Mock()
    client.containers.create.return_value = made
    other = mock.Mock(id="old")
    other.name = "other-web"
    client.containers.list.return_value = [other] if "allocated" in explanation else []
    service = services.Service(name="x-ex-web", task="ex:web", ports={"80": "8082"},
                               ports_at="/p/exercises/ex/exercise.yml:12")
    with pytest.raises(services.ServiceError) as err:
        services.start(engine, "sha256:abc", service, lambda line: None)
    text = str(err.value)
    assert text.startswith("ex:web: cannot publish the service on 127.0.0.1:8082 ('ports:' at "
                           "/p/exercises/ex/exercise.yml:12): the port is taken; " + holder)
    client.containers.list.assert_called_once_with(filters={"publish": "8082"})
    made.remove.assert_called_once_with(force=True)  # nothing left behind


def test_an_ended_service_stops_the_wait():
    def ended() -> None:
        raise services.ServiceError("ex:web: the service exited before it was ready")

    with pytest.raises(services.ServiceError, match="exited before"):
        services.wait_ready("ex:web", "web", services.Probe(log="x", timeout=5),
                            lambda: "", ended, print, interval=0)


# --- health checks as readiness ------------------------------------------------------------

def test_ready_once_docker_says_healthy():
    states = iter([("starting", ""), ("starting", "refused"), ("healthy", "ok")])
    told: list[str] = []
    services.wait_ready("ex:db", "db", services.Probe(healthy=True, timeout=5), lambda: "",
                        lambda: None, told.append, interval=0, health=lambda: next(states))
    assert told == ["service db is ready (healthy)"]


def test_unhealthy_fails_at_once_with_the_checks_output():
    with pytest.raises(services.ServiceError) as err:
        services.wait_ready("ex:db", "db", services.Probe(healthy=True, timeout=60),
                            lambda: "db log line", lambda: None, print, interval=0,
                            health=lambda: ("unhealthy", "connection refused"))
    text = str(err.value)
    assert "ex:db: the service's health check failed (last check: connection refused)" in text
    assert text.endswith("db log line")


def test_not_healthy_in_time_says_so():
    with pytest.raises(services.ServiceError) as err:
        services.wait_ready("ex:db", "db", services.Probe(log="^up", healthy=True, timeout=1),
                            lambda: "up", lambda: None, print, interval=0.05,
                            health=lambda: ("starting", "refused"))
    text = str(err.value)
    assert "'ready: log: ^up' matched; its health check has not passed yet (last check: " \
        "refused)" in text
    assert "None" not in text and "http" not in text


def test_a_health_probe_needs_a_way_to_read_it():
    with pytest.raises(services.ServiceError, match="health check cannot be read"):
        services.wait_ready("ex:db", "db", services.Probe(healthy=True, timeout=5),
                            lambda: "", lambda: None, print, where=" on the cluster")


def test_the_log_alone_does_not_make_a_health_probe_ready():
    states = iter([("starting", "")] * 3 + [("healthy", "")])
    polls: list[str] = []

    def health() -> tuple[str, str]:
        polls.append("x")
        return next(states)

    services.wait_ready("ex:db", "db", services.Probe(log="^up", healthy=True, timeout=5),
                        lambda: "up", lambda: None, print, interval=0, health=health)
    assert len(polls) == 4


# --- named volumes ----------------------------------------------------------------------------

def volume_client(existing: Any = None, users: list[Any] | None = None) -> mock.Mock:
    client = mock.Mock(spec=docker.DockerClient)
    client.volumes = mock.Mock()
    client.containers = mock.Mock()
    if existing is None:
        client.volumes.get.side_effect = docker.errors.NotFound("no such volume")
    else:
        client.volumes.get.return_value = existing
    client.containers.list.return_value = users or []
    return client


def test_create_volume_makes_a_labelled_volume():
    client = volume_client()
    engine = Engine(factory=lambda: client, project=PROJECT)
    told: list[str] = []
    services.create_volume(engine, "p-data", "ex:data", told.append)
    client.volumes.create.assert_called_once_with(
        "p-data", labels={LABEL_TASK: "ex:data", LABEL_PROJECT: PROJECT, LABEL_EPHEMERAL: "1"})
    assert told == ["volume p-data created"]


def test_create_volume_replaces_a_stale_one_of_ours_and_its_containers():
    stale = mock.Mock(attrs={"Labels": {**OURS, LABEL_TASK: "ex:data"}})
    user = mock.Mock(labels=dict(OURS))
    client = volume_client(stale, [user])
    engine = Engine(factory=lambda: client, project=PROJECT)
    services.create_volume(engine, "p-data", "ex:data", lambda line: None)
    client.containers.list.assert_called_once_with(all=True, filters={"volume": "p-data"})
    user.remove.assert_called_once_with(force=True)
    stale.remove.assert_called_once_with(force=True)
    client.volumes.create.assert_called_once()


@pytest.mark.parametrize("labels, users", [
    ({LABEL_TASK: "ex:data"}, []),  # no project label: someone else's
    ({**OURS, LABEL_TASK: "ex:data", LABEL_PROJECT: "/elsewhere/.ac295"}, []),  # another copy
    ({**OURS, LABEL_TASK: "ex:data"}, [{"org.someone": "x"}]),  # ours, used by someone else
])
def test_create_volume_leaves_what_is_not_ours(labels, users):
    stale = mock.Mock(attrs={"Labels": labels})
    others = [mock.Mock(labels=u) for u in users]
    for other in others:
        other.name = "theirs"
    client = volume_client(stale, others)
    engine = Engine(factory=lambda: client, project=PROJECT)
    with pytest.raises(EngineError, match="p-data"):
        services.create_volume(engine, "p-data", "ex:data", lambda line: None)
    stale.remove.assert_not_called()
    for other in others:
        other.remove.assert_not_called()
    client.volumes.create.assert_not_called()


def test_remove_volume_removes_ours_only():
    ours = mock.Mock(attrs={"Labels": {**OURS, LABEL_TASK: "ex:data"}})
    client = volume_client(ours)
    engine = Engine(factory=lambda: client, project=PROJECT)
    told: list[str] = []
    services.remove_volume(engine, "p-data", "ex:data", told.append)
    ours.remove.assert_called_once_with(force=True)
    assert told == ["volume p-data removed"]
    theirs = mock.Mock(attrs={"Labels": {LABEL_TASK: "ex:data"}})
    client = volume_client(theirs)
    engine = Engine(factory=lambda: client, project=PROJECT)
    services.remove_volume(engine, "p-data", "ex:data", told.append)
    theirs.remove.assert_not_called()


def test_remove_volume_that_is_gone():
    client = volume_client()
    engine = Engine(factory=lambda: client, project=PROJECT)
    services.remove_volume(engine, "p-data", "ex:data", lambda line: None)
    client.volumes.create.assert_not_called()
