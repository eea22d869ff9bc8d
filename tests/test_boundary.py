"""The boundaries hold: only ``tasks/engine`` talks to Docker, every exception class lives in
``tasks/errors.py``, and exercises reach the project through its public entry point only.

The rules are read from the source with ``ast`` (what the code does, not what its comments
say); each scanner is first shown a planted violation, so that a scanner that finds nothing
cannot pass for a clean tree.
"""
from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "tasks"
ENGINE = TASKS / "engine"
EXERCISES = ROOT / "exercises"


def sources(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def outside_engine() -> list[Path]:
    return [p for p in sources(TASKS) if ENGINE not in p.parents]


def module_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import in the tree, functions' lazy imports included."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def docker_uses(text: str) -> list[str]:
    """What in this source talks to Docker: imports of the SDK, an engine's ``.client``,
    the engine's socket."""
    tree = ast.parse(text)
    found = [f"line {line}: imports {name}" for line, name in module_names(tree)
             if name == "docker" or name.startswith("docker.")]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("client", "_client"):
            found.append(f"line {node.lineno}: uses .{node.attr} (the engine's Docker client)")
        elif isinstance(node, ast.Attribute) and node.attr == "AF_UNIX":
            found.append(f"line {node.lineno}: opens a unix socket")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and "docker.sock" in node.value:
            found.append(f"line {node.lineno}: names the engine's socket")
    return found


def exception_classes(text: str) -> list[str]:
    """The classes defined in this source that derive from an exception class: a builtin
    one, one named ``...Error``/``...Exception``, or one defined above it."""
    tree = ast.parse(text)
    ours: set[str] = set()
    found = []
    for node in sorted((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)),
                       key=lambda n: n.lineno):
        for base in node.bases:
            name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
            builtin = getattr(builtins, name, None)
            if name in ours or name.endswith(("Error", "Exception")) or (
                    isinstance(builtin, type) and issubclass(builtin, BaseException)):
                ours.add(node.name)
                found.append(f"line {node.lineno}: class {node.name}")
                break
    return found


def project_reach(text: str) -> list[str]:
    """How an exercise's script reaches into the project: imports of ``tasks``, sys.path."""
    tree = ast.parse(text)
    found = [f"line {line}: imports {name}" for line, name in module_names(tree)
             if name == "tasks" or name.startswith("tasks.")]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path" \
                and isinstance(node.value, ast.Name) and node.value.id == "sys":
            found.append(f"line {node.lineno}: touches sys.path")
    return found


# --- the scanners find what they look for ---------------------------------------------------

@pytest.mark.parametrize("text", [
    "import docker\n",
    "import docker.errors as e\n",
    "def f():\n    from docker.types import RestartPolicy\n",
    "def f(engine):\n    return engine.client.info()\n",
    "def f(engine):\n    return engine._client\n",
    "import socket\ns = socket.socket(socket.AF_UNIX)\n",
    "PATH = '/var/run/docker.sock'\n",
])
def test_the_docker_scanner_finds_a_planted_use(text):
    assert docker_uses(text)


def test_the_docker_scanner_leaves_other_things_alone():
    assert docker_uses("from ..dsl import dockerfiles\nimport dockerish\n"
                       "x = 'docker run --rm'\nclient = 1\n") == []


@pytest.mark.parametrize("text, found", [
    ("class ClusterError(Ac295Error):\n    pass\n", 1),
    ("import errors\nclass E(errors.Ac295Error):\n    pass\n", 1),
    ("class Stop(Exception):\n    pass\n", 1),
    ("class Bad(ValueError):\n    pass\n", 1),
    ("class Stop(KeyboardInterrupt):\n    pass\nclass Halt(Stop):\n    pass\n", 2),
    ("class Outcome:\n    pass\nclass JobOutcome(Outcome):\n    pass\n", 0),
])
def test_the_exception_scanner_finds_a_planted_class(text, found):
    assert len(exception_classes(text)) == found


@pytest.mark.parametrize("text", [
    "import sys\nsys.path.insert(0, '..')\n",
    "from tasks.engine import rootless\n",
    "import tasks.vm\n",
])
def test_the_exercise_scanner_finds_a_planted_reach(text):
    assert project_reach(text)


# --- the tree ------------------------------------------------------------------------------

def test_only_the_engine_talks_to_docker():
    """``grep -rn "import docker\\|from docker" tasks`` finds only tasks/engine/."""
    found = {str(p.relative_to(ROOT)): docker_uses(p.read_text()) for p in outside_engine()}
    assert {p: uses for p, uses in found.items() if uses} == {}
    assert any(docker_uses(p.read_text()) for p in sources(ENGINE))  # the scan sees the SDK


def test_every_exception_class_lives_in_errors_py():
    found = {str(p.relative_to(ROOT)): exception_classes(p.read_text())
             for p in sources(TASKS) if p != TASKS / "errors.py"}
    assert {p: classes for p, classes in found.items() if classes} == {}
    assert len(exception_classes((TASKS / "errors.py").read_text())) > 10


def test_exercises_use_the_public_entry_point_only():
    """Exercises run ``python -m tasks.runners`` (or a command); they import nothing of the
    project and do not edit sys.path to reach it."""
    found = {str(p.relative_to(ROOT)): project_reach(p.read_text()) for p in sources(EXERCISES)}
    assert {p: reach for p, reach in found.items() if reach} == {}
    assert "tasks.runners" in (EXERCISES / "compare/compare.py").read_text()
