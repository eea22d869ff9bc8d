"""Services and networks as doit tasks: names, their task dicts, compiled without an engine."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from doit.loader import generate_tasks
from doit.tools import config_changed

from helpers import compile_project, unwrap, write_project
from tasks.engine.options import ContainerOptions
from tasks.errors import Where
from tasks.kinds import network, run, service
from tasks.kinds.actions import Always
from tasks.kinds.runtime import Runtime
from tasks.kinds.service import ServiceStep
from tasks.dsl.model import Exercise


def service_step(container: str | None = None) -> ServiceStep:
    return ServiceStep(exercise="demo2", name="db", doc="", after=(),
                       where=Where(Path("/p/exercises/demo2/exercise.yml"), 20, "steps.db"),
                       image="db-image", command=None, env={}, container=container)


@pytest.mark.parametrize("container, name", [("ac295-demo2-db", "ac295-demo2-db"),
                                             (None, "demo2-db")])
def test_container_name(container, name):
    assert service_step(container).container_name == name


# --- task dicts: compiled with an engine that must stay unused ------------------------------

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
def compiled(tmp_path) -> tuple[dict[str, dict[str, Any]], Runtime, Exercise]:
    write_project(tmp_path, {"exercises/ex/Dockerfile": "FROM scratch\n",
                             "exercises/ex/exercise.yml": SERVICES})
    tasks, exercises, rt = compile_project(tmp_path)
    return tasks, rt, exercises[0]


def runs_every_time(task: dict[str, Any]) -> bool:
    return len(task["uptodate"]) == 1 and isinstance(task["uptodate"][0], Always) \
        and task["uptodate"][0]() is False


def test_service_task(compiled):
    tasks, rt, ex = compiled
    task = tasks["ex:db"]
    assert runs_every_time(task)
    assert "live system" in repr(task["uptodate"][0])
    assert task["targets"] == [] and "clean" not in task
    assert task["task_dep"] == ["ex:net"]
    assert task["file_dep"] == [str(rt.record_path("ex:img"))]
    assert [unwrap(a) for a in task["actions"]] == \
        [(service.start, (rt, ex.steps["db"], "helloNetwork", ContainerOptions()))]
    assert "teardown" not in task  # removed by the reporter, in doit's main process
    assert [unwrap(a) for a in task["meta"]["ac295_end"]] == \
        [(service.stop, (rt, ex.steps["db"]))]


def test_network_task(compiled):
    tasks, rt, ex = compiled
    task = tasks["ex:net"]
    assert runs_every_time(task)
    assert task["targets"] == []
    assert (task["file_dep"], task["task_dep"]) == ([], [])
    assert [unwrap(a) for a in task["actions"]] == [(network.create, (rt, ex.steps["net"]))]
    assert [unwrap(a) for a in task["meta"]["ac295_end"]] == \
        [(network.remove, (rt, ex.steps["net"]))]


def test_one_shot_run_on_the_network_runs_every_time(compiled):
    tasks, rt, ex = compiled
    task = tasks["ex:probe"]
    assert task["targets"] == [] and runs_every_time(task)
    assert task["task_dep"] == ["ex:db", "ex:net"]
    assert "ac295_end" not in task["meta"]  # nothing to remove at the end: it ran to its end
    assert [unwrap(a) for a in task["actions"]] == \
        [(run.run, (rt, ex.steps["probe"], "helloNetwork", ContainerOptions()))]


def test_phony_recipe_runs_every_time(compiled):
    tasks, _, _ = compiled
    task = tasks["ex:answers"]
    assert runs_every_time(task)
    assert task["targets"] == []
    assert task["task_dep"] == ["ex:db"]


def test_recipe_with_targets_is_not_phony(compiled, tmp_path):
    tasks, _, _ = compiled
    task = tasks["ex:count"]
    assert task["targets"] == [str(tmp_path / "exercises" / "ex" / "out.txt")]
    assert not any(isinstance(u, Always) for u in task["uptodate"])
    assert isinstance(task["uptodate"][0], config_changed)


def test_doit_accepts_service_and_network_tasks(compiled):
    tasks, _, _ = compiled
    loaded = {t.name: t for t in generate_tasks("ac295", (dict(t) for t in tasks.values()))}
    assert len(loaded["ex:db"].meta["ac295_end"]) == 1
    assert len(loaded["ex:net"].meta["ac295_end"]) == 1
    assert loaded["ex:probe"].task_dep == ["ex:db", "ex:net"]
    assert loaded["ex:db"].targets == []


# --- every local name carries local_prefix ---------------------------------------------------

PREFIXED = """\
doc: names written with and without the prefix
steps:
  img: {build: ., tag: "me/db:1"}
  net: {network: shopNet}
  net2: {network: "{local_prefix}otherNet"}
  svc: {run: img, detach: true, network: net}
  web: {run: img, detach: true, name: web, network: net, aliases: [www]}
  db: {run: img, detach: true, name: "{local_prefix}db", network: net, aliases: [db]}
  alone: {run: img, detach: true}
  data: {volume: shopData}
"""


@pytest.mark.parametrize("prefix", ["", "x-"])
def test_containers_and_networks_carry_the_local_prefix(tmp_path, prefix):
    from helpers import load
    root = write_project(tmp_path, {"exercises/shop/exercise.yml": PREFIXED,
                                    "exercises/shop/Dockerfile": "FROM scratch\n"},
                         "variables:\n  registry: 127.0.0.1:5000\n  local_prefix: ''\n")
    steps = load(root, {"AC295_LOCAL_PREFIX": prefix})["shop"].steps
    assert steps["net"].network == f"{prefix}shopNet"
    assert steps["net2"].network == f"{prefix}otherNet"  # written with it: not twice
    assert steps["data"].volume == f"{prefix}shopData"
    assert steps["svc"].container_name == f"{prefix}shop-svc"
    assert steps["web"].container_name == f"{prefix}web"
    assert steps["db"].container_name == f"{prefix}db"
    assert steps["alone"].container_name == f"{prefix}shop-alone"
    # on its network, a service is still found by the name the spec gave it
    assert steps["svc"].aliases == (("shop-svc",) if prefix else ())
    assert steps["web"].aliases == (("www", "web") if prefix else ("www",))
    assert steps["db"].aliases == ("db",)
    assert steps["alone"].aliases == ()
