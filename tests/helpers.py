"""Helpers shared by the unit tests: projects on disk, loading and compiling them, fake engines.

Fixtures built on these live in ``tests/conftest.py``; test modules import the plain functions
from here (``from helpers import write_project``), so each helper is written once.
"""
from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path
from typing import Any
from unittest import mock

import docker
import pytest

from tasks import project
from tasks.engine.client import Engine
from tasks.errors import SpecError, Where
from tasks.graph import compile as graph
from tasks.kinds import KINDS, records
from tasks.kinds.base import KindTable
from tasks.kinds.runtime import Runtime
from tasks.dsl import config
from tasks.dsl.config import Config
from tasks.dsl.model import Exercise

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
#: The page whose sections describe each step kind, with an example each.
KINDS_PAGE = ROOT / "docs" / "writing-exercises.md"
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
_KIND_HEADING = re.compile(r"^### `([\w-]+)`", re.MULTILINE)
#: The files the docs' examples name, as an exercise folder would hold them.
EXAMPLE_FILES = {
    "Dockerfile": "FROM scratch\n",
    "db/Dockerfile": "FROM scratch\n",
    "server/Dockerfile": "FROM scratch\n",
    "image/Dockerfile": "FROM scratch\n",
    "environment.yml": "name: env\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n"
                       "    - six==1.16.0\n",
    "requirements.txt": "six==1.16.0\n",
    "make-data.sh": "#!/bin/sh\n",
    "make-rootfs.sh": "#!/bin/sh\n",
    "time-it.sh": "#!/bin/sh\n",
    "probe.py": "",
    "roster.yml": "- ana\n- bo\n",
    "seed/greetings.txt": "Hello world\n",
    "web.env": "MODE=demo\n",
}
#: The compose file that the `compose` section shows (its ```yaml docker-compose.yml block).
EXAMPLE_FILES["docker-compose.yml"] = re.search(
    r"^```yaml docker-compose\.yml\n(.*?)^```", KINDS_PAGE.read_text(),
    re.MULTILINE | re.DOTALL).group(1)  # type: ignore[union-attr]
EXAMPLE_CONFIG = ("variables:\n  registry: 127.0.0.1:5000\n  hub_user: me\n  student: s\n"
                  "  base_image: python:3.11-slim\n  local_prefix: ''\n")


def kind_sections(text: str) -> dict[str, str]:
    """The sections of a docs page that describe a step kind (a ``### `kind`...`` heading),
    by kind name: each runs to the next heading of level 2 or 3."""
    found = {}
    for match in _KIND_HEADING.finditer(text):
        rest = text[match.end():]
        end = re.search(r"^#{2,3} ", rest, re.MULTILINE)
        found[match.group(1)] = rest[:end.start()] if end else rest
    return found


def kind_examples(text: str | None = None) -> dict[str, list[str]]:
    """The YAML examples of each kind's section (by kind name), from the docs page."""
    text = KINDS_PAGE.read_text() if text is None else text
    return {kind: [m.group(1) for m in YAML_BLOCK.finditer(section)]
            for kind, section in kind_sections(text).items()}


def example_steps(tmp_path: Path) -> list[Any]:
    """Every step of every kind section's examples, each example loaded as an exercise of its
    own: the sample of all kinds that the graph tests use (a new kind comes with its section,
    so it is in the sample without any test being edited)."""
    files: dict[str, str] = {}
    for kind, blocks in kind_examples().items():
        for n, block in enumerate(blocks):
            folder = f"exercises/k-{kind}-{n}"
            files.update({f"{folder}/{rel}": body for rel, body in EXAMPLE_FILES.items()})
            files[f"{folder}/exercise.yml"] = block
    root = write_project(tmp_path / "examples", files, EXAMPLE_CONFIG)
    return [s for e in load(root).values() for s in e.steps.values()]
CONFIG = "variables:\n  registry: 127.0.0.1:5000\n"
DIGEST = "sha256:" + "0123456789abcdef" * 4
WHERE = Where(Path("/p/exercises/ex/exercise.yml"), 2, "steps")


def write_project(root: Path, files: dict[str, str], config_text: str = CONFIG) -> Path:
    """ac295.yml plus ``files`` (paths relative to the project, text dedented)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "ac295.yml").write_text(config_text)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def load_config(root: Path, environ: dict[str, str] | None = None) -> Config:
    return config.load(root, environ={} if environ is None else environ)


def load(root: Path, environ: dict[str, str] | None = None,
         kinds: KindTable = KINDS) -> dict[str, Exercise]:
    """The project's exercises by name, loaded as dodo.py loads them (cycles checked)."""
    return {e.name: e for e in project.load_exercises(load_config(root, environ), kinds)}


def spec_error(root: Path, environ: dict[str, str] | None = None) -> SpecError:
    """The SpecError that loading ``root`` raises (the test fails if none)."""
    with pytest.raises(SpecError) as info:
        load(root, environ)
    return info.value


def line_of(path: Path, text: str, nth: int = 1) -> int:
    """1-based line of the nth line of ``path`` holding ``text``."""
    hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(hits) >= nth, f"{text!r} not in {path}"
    return hits[nth - 1]


class NoEngine:
    """An Engine factory that fails the test if compilation tries to reach Docker."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        raise AssertionError("graph compilation must do no I/O")


def task_name(task: dict[str, Any]) -> str:
    return task["basename"] + (f":{task['name']}" if task.get("name") else "")


def compile_project(root: Path, environ: dict[str, str] | None = None,
                    kinds: KindTable = KINDS,
                    ) -> tuple[dict[str, dict[str, Any]], list[Exercise], Runtime]:
    """Every task dict of a project by name, compiled with an engine that must stay unused."""
    cfg = load_config(root, environ)
    exercises = project.load_exercises(cfg, kinds)
    factory = NoEngine()
    rt = Runtime(cfg, engine=Engine(factory=factory))
    from tasks.toplevel import project_tasks
    tasks = list(graph.exercise_tasks(rt, kinds, exercises)) + \
        list(project_tasks(rt, kinds, exercises))
    by_name = {task_name(t): t for t in tasks}
    assert len(by_name) == len(tasks)
    assert factory.calls == 0
    return by_name, exercises, rt


def fake_client(listing: list[dict[str, Any]] | None = None) -> mock.Mock:
    """A spec'd Docker client whose low-level API holds ``listing`` as its images.

    `images()` lists them; `inspect_image(ref)` finds one by id, tag (``:latest`` added to a
    bare name) or ``name@digest``, read from the listing when asked (a test may change it),
    and answers in the inspect's shape. Name resolution beyond that is the real engine's
    (tests/integration/test_engine_lookups.py).
    """
    client = mock.Mock(spec=docker.DockerClient)
    client.api = mock.create_autospec(docker.APIClient, instance=True)
    client.api.images.return_value = listing or []

    def inspect_image(ref: str) -> dict[str, Any]:
        wanted = {ref, ref + ":latest"} if ":" not in ref.rsplit("/", 1)[-1] else {ref}
        for image in client.api.images.return_value:
            names = {image["Id"], *(image.get("RepoTags") or []),
                     *(image.get("RepoDigests") or [])}
            if wanted & names:
                return {"Id": image["Id"], "RepoTags": image.get("RepoTags"),
                        "RepoDigests": image.get("RepoDigests"),
                        "Config": {"Labels": image.get("Labels")},
                        "Created": "2026-11-29T10:00:00Z", "Size": image.get("Size", 0)}
        raise docker.errors.ImageNotFound(f"No such image: {ref}")

    client.api.inspect_image.side_effect = inspect_image
    return client


def fake_engine(listing: list[dict[str, Any]] | None = None, project_dir: str = "/p/.ac295"
                ) -> tuple[Engine, mock.Mock]:
    """An Engine on a fake client; returns (engine, client)."""
    client = fake_client(listing)
    return Engine(factory=lambda: client, project=project_dir), client


def runtime(tmp_path: Path, listing: list[dict[str, Any]] | None = None
            ) -> tuple[Runtime, mock.Mock]:
    """A Runtime with records under tmp_path and a fake engine; returns (rt, client.api)."""
    client = fake_client(listing)
    cfg = Config(root=tmp_path, state=tmp_path / "state",
                 variables={"registry": "127.0.0.1:5000"})
    return Runtime(cfg, engine=Engine(factory=lambda: client)), client.api


def record(rt: Runtime, task: str, **data: Any) -> Path:
    """Write a record for ``task`` as its step would."""
    path = rt.record_path(task)
    records.write(path, {"task": task, **data})
    return path


def unwrap(action: Any) -> tuple[Any, tuple[Any, ...]]:
    """(the function behind an Action tuple, its arguments)."""
    function, args = action
    return function.function, args


def doit_main(root: Path, *args: str, environ: dict[str, str] | None = None) -> int:
    """Run a doit command in this process on the project at ``root``, as dodo.py loads it
    (doit's own loader and checks, the project's plugin commands from pyproject.toml);
    its output goes to sys.stdout and sys.stderr (read them with capsys)."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    config, tasks = project.load(root, environ={} if environ is None else environ)

    def task_ac295() -> Any:
        yield from tasks

    loader = ModuleTaskLoader({"task_ac295": task_ac295, "DOIT_CONFIG": config})
    here = os.getcwd()
    try:
        os.chdir(ROOT)  # doit reads [tool.doit] only from a file named "pyproject.toml"
        main = DoitMain(loader, config_filenames=["pyproject.toml"])
        os.chdir(root)  # and runs where dodo.py is
        return int(main.run(list(args)) or 0)  # `ignore` returns nothing
    finally:
        os.chdir(here)
