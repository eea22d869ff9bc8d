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
    assert "log /^never/: not seen" in text and text.endswith("still starting")


def test_an_ended_service_stops_the_wait():
    def ended() -> None:
        raise services.ServiceError("ex:web: the service exited before it was ready")

    with pytest.raises(services.ServiceError, match="exited before"):
        services.wait_ready("ex:web", "web", services.Probe(log="x", timeout=5),
                            lambda: "", ended, print, interval=0)
