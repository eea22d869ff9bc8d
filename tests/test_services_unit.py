"""Services and networks without an engine: names, their task dicts, and the removal guard."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any
from unittest import mock

import docker
import docker.errors
import pytest
from doit.loader import generate_tasks
from doit.tools import config_changed

from tasks import config, graph, services, spec
from tasks import steps as ops
from tasks.engine import LABEL_PROJECT, LABEL_TASK, Engine
from tasks.errors import EngineError, Where
from tasks.services import LABEL_EPHEMERAL

PROJECT = "/p/.ac295"


def run_step(container: str | None = None) -> spec.RunStep:
    return spec.RunStep(exercise="demo2", name="db", doc="", after=(),
                        where=Where(Path("/p/exercises/demo2/exercise.yml"), 20, "steps.db"),
                        image="db-image", command=None, env={}, expect=spec.Expect(),
                        timeout=300, detach=True, container=container)


@pytest.mark.parametrize("container, name", [("ac295-demo2-db", "ac295-demo2-db"),
                                             (None, "demo2-db")])
def test_container_name(container, name):
    assert services.container_name(run_step(container)) == name


# --- task dicts: compiled with an engine that must stay unused ------------------------------

class NoEngine:
    """An Engine factory that fails the test if compilation tries to reach Docker."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        raise AssertionError("graph compilation must do no I/O")


SERVICES = """\
doc: a db on a network, probed by recipes
steps:
  img: {build: ., tag: "me/db:1"}
  net: {network: helloNetwork}
  db: {run: img, detach: true, network: net, aliases: [db], ready: {log: listening}}
  probe: {run: img, network: net, after: [db]}
  answers: {sh: "curl -f localhost", after: [db]}
  count: {sh: "ls > out.txt", targets: [out.txt]}
"""


@pytest.fixture
def compiled(tmp_path) -> tuple[dict[str, dict[str, Any]], ops.Runtime, spec.Exercise]:
    (tmp_path / "ac295.yml").write_text("variables:\n  registry: 127.0.0.1:5000\n")
    folder = tmp_path / "exercises" / "ex"
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text("FROM scratch\n")
    (folder / "exercise.yml").write_text(textwrap.dedent(SERVICES))
    cfg = config.load(tmp_path, environ={})
    exercises = spec.load_project(cfg)
    factory = NoEngine()
    rt = ops.Runtime(cfg, engine=Engine(factory=factory))
    tasks = {t["basename"] + (f":{t['name']}" if t.get("name") else ""): t
             for t in graph.exercise_tasks(rt, exercises)}
    assert factory.calls == 0
    return tasks, rt, exercises[0]


def wrapped(action: tuple[Any, tuple[Any, ...]]) -> tuple[Any, tuple[Any, ...]]:
    """(the function behind a reported action, its arguments)."""
    function, args = action
    return function.__wrapped__, args


def test_service_task(compiled):
    tasks, rt, ex = compiled
    task = tasks["ex:db"]
    assert task["uptodate"] == [False]
    assert "targets" not in task and "clean" not in task
    assert task["task_dep"] == ["ex:net"]
    assert task["file_dep"] == [str(rt.record_path("ex:img"))]
    assert [wrapped(a) for a in task["actions"]] == \
        [(ops.service_action, (rt, ex.steps["db"], "helloNetwork"))]
    assert [wrapped(a) for a in task["teardown"]] == \
        [(ops.service_teardown, (rt, ex.steps["db"]))]


def test_network_task(compiled):
    tasks, rt, ex = compiled
    task = tasks["ex:net"]
    assert task["uptodate"] == [False]
    assert "targets" not in task
    assert (task["file_dep"], task["task_dep"]) == ([], [])
    assert [wrapped(a) for a in task["actions"]] == [(ops.network_action, (rt, ex.steps["net"]))]
    assert [wrapped(a) for a in task["teardown"]] == \
        [(ops.network_teardown, (rt, ex.steps["net"]))]


def test_one_shot_run_on_the_network_runs_every_time(compiled):
    tasks, rt, ex = compiled
    task = tasks["ex:probe"]
    assert "targets" not in task and task["uptodate"] == [False]
    assert task["task_dep"] == ["ex:db", "ex:net"]
    assert "teardown" not in task
    assert [wrapped(a) for a in task["actions"]] == \
        [(ops.run_action, (rt, ex.steps["probe"], "helloNetwork"))]


def test_phony_recipe_runs_every_time(compiled):
    tasks, _, _ = compiled
    task = tasks["ex:answers"]
    assert task["uptodate"] == [False]
    assert "targets" not in task
    assert task["task_dep"] == ["ex:db"]


def test_recipe_with_targets_is_not_phony(compiled, tmp_path):
    tasks, _, _ = compiled
    task = tasks["ex:count"]
    assert task["targets"] == [str(tmp_path / "exercises" / "ex" / "out.txt")]
    assert False not in task["uptodate"]
    assert isinstance(task["uptodate"][0], config_changed)


def test_doit_accepts_service_and_network_tasks(compiled):
    tasks, _, _ = compiled
    loaded = {t.name: t for t in generate_tasks("ac295", (dict(t) for t in tasks.values()))}
    assert len(loaded["ex:db"].teardown) == 1 and len(loaded["ex:net"].teardown) == 1
    assert loaded["ex:probe"].task_dep == ["ex:db", "ex:net"]
    assert loaded["ex:db"].targets == []


# --- _remove_container against a spec'd fake engine -----------------------------------------

def fake_engine(attrs: dict[str, Any] | Exception) -> tuple[Engine, mock.Mock]:
    """An Engine whose client's inspect_container returns ``attrs`` (or raises it)."""
    client = mock.Mock(spec=docker.DockerClient)
    client.api = mock.create_autospec(docker.APIClient, instance=True)
    if isinstance(attrs, Exception):
        client.api.inspect_container.side_effect = attrs
    else:
        client.api.inspect_container.return_value = attrs
    return Engine(factory=lambda: client, project=PROJECT), client.api


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


def test_stop_removes_the_service_by_its_default_name():
    engine, api = fake_engine(container(dict(OURS)))
    lines: list[str] = []
    services.stop(run_step(), engine, lines.append)
    api.inspect_container.assert_called_once_with("demo2-db")
    assert lines == ["service demo2-db removed"]


def test_create_network_refuses_a_network_this_project_did_not_make():
    client = mock.Mock(spec=docker.DockerClient)
    stale = mock.Mock(attrs={"Labels": {LABEL_TASK: "ex:net"}}, containers=[])
    stale.name = "helloNetwork"
    client.networks = mock.Mock()
    client.networks.list.return_value = [stale]
    engine = Engine(factory=lambda: client, project=PROJECT)
    step = spec.NetworkStep(exercise="ex", name="net", doc="", after=(),
                            where=Where(Path("ex.yml"), 1, "steps.net"), network="helloNetwork")
    with pytest.raises(EngineError, match="did not make it"):
        services.create_network(step, engine, lambda line: None)
    stale.remove.assert_not_called()
    client.networks.create.assert_not_called()
