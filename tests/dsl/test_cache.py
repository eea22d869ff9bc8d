"""The cache of parsed exercises: used while every file of its key is unchanged, never after.

Each test loads a project twice through ``project.load_isolated`` (as dodo.py does) and counts
the parses; the expected parsed result comes from the same files read without the cache.
"""
from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from helpers import load, load_config, write_project
from tasks import project
from tasks.dsl import cache as cache_mod
from tasks.dsl import exercises as spec

SPEC = """\
    doc: one build
    steps:
      image:
        build: .
        tag: "{registry}/{hub_user}/app:1"
"""
DOCKERFILE = "FROM debian:12\n"


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The exercise.yml files parsed, in order (the parser is spied on, not replaced)."""
    seen: list[str] = []
    real = spec.load_exercise

    def spy(path, *args, **kwargs):
        seen.append(path.parent.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(project, "load_exercise", spy)
    return seen


@pytest.fixture
def settled(monkeypatch):
    """Files written by the test count as settled (no clock-tick race): see test_racy_*."""
    monkeypatch.setattr(cache_mod, "RACY_NS", 0)


def make(tmp_path: Path) -> Path:
    return write_project(tmp_path / "p", {
        "exercises/one/exercise.yml": SPEC, "exercises/one/Dockerfile": DOCKERFILE,
        "exercises/two/exercise.yml": SPEC.replace("app:1", "two:1"),
        "exercises/two/Dockerfile": DOCKERFILE},
        "variables:\n  registry: 127.0.0.1:5000\n  hub_user: maggie\n")


def loaded(root: Path, environ: dict[str, str] | None = None) -> dict:
    good, broken, _ = project.load_isolated(load_config(root, environ))
    return {"good": {e.name: e for e in good}, "broken": broken}


def test_an_unchanged_project_is_not_parsed_again(tmp_path, parses, settled):
    root = make(tmp_path)
    first = loaded(root)["good"]
    assert parses == ["one", "two"]
    second = loaded(root)["good"]
    assert parses == ["one", "two"]  # nothing parsed the second time
    assert second == first == load(root)  # equal to a parse without the cache


def edit_same_size_same_mtime(path: Path, old: str, new: str) -> None:
    """Change a file's bytes, keep its size, and set its mtime back (as `cp -p` can)."""
    assert len(old) == len(new)
    st = path.stat()
    path.write_text(path.read_text().replace(old, new))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("edit", ["exercise.yml", "same size and mtime", "Dockerfile",
                                  "Dockerfile removed", "variable", "new exercise"])
def test_what_a_parse_read_changing_parses_again(tmp_path, parses, settled, edit):
    root = make(tmp_path)
    loaded(root)
    one = root / "exercises/one"
    environ = None
    if edit == "exercise.yml":
        (one / "exercise.yml").write_text(SPEC.replace("app:1", "app:22"))
    elif edit == "same size and mtime":
        edit_same_size_same_mtime(one / "exercise.yml", "app:1", "app:9")
    elif edit == "Dockerfile":
        (one / "Dockerfile").write_text("FROM debian:13\n")
    elif edit == "Dockerfile removed":
        (one / "Dockerfile").unlink()
    elif edit == "variable":
        environ = {"AC295_HUB_USER": "other"}
    else:
        (root / "exercises/three").mkdir()
        (root / "exercises/three/exercise.yml").write_text(textwrap.dedent(SPEC).replace("app:1", "three:1"))
        (root / "exercises/three/Dockerfile").write_text(DOCKERFILE)
    parses.clear()
    got = loaded(root, environ)
    want = {"exercise.yml": ["one"], "same size and mtime": ["one"], "Dockerfile": ["one"],
            "Dockerfile removed": ["one"], "variable": ["one", "two"],
            "new exercise": ["three"]}[edit]
    assert parses == want
    if edit == "Dockerfile removed":
        assert "one" in got["broken"] and "no Dockerfile" in str(got["broken"]["one"])
    else:
        assert got["good"] == load(root, environ)


def test_a_broken_exercise_is_parsed_and_reported_every_time(tmp_path, parses, settled):
    root = make(tmp_path)
    (root / "exercises/two/exercise.yml").write_text("doc: x\nsteps: {a: {bild: .}}\n")
    for _ in range(2):
        broken = loaded(root)["broken"]
        assert list(broken) == ["two"] and "bild" in str(broken["two"])
    assert parses == ["one", "two", "two"]


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05garbage"])
def test_a_corrupt_cache_is_ignored_and_rewritten(tmp_path, parses, settled, damage):
    root = make(tmp_path)
    first = loaded(root)["good"]
    path = root / ".ac295/cache/specs.pickle"
    assert path.is_file()
    path.write_bytes(damage)
    assert loaded(root)["good"] == first
    assert parses == ["one", "two", "one", "two"]
    loaded(root)
    assert parses == ["one", "two", "one", "two"]  # rewritten, then used


def test_another_parser_version_parses_everything(tmp_path, settled):
    root = make(tmp_path)
    cfg = load_config(root)
    files = spec.exercise_files(root)
    path = tmp_path / "specs.pickle"
    old = cache_mod.SpecCache(path, ("v1",), dict(cfg.variables))
    exercise = spec.load_exercise(files[0], cfg, project.KINDS)
    old.put(files[0], exercise, [])
    old.save()
    assert cache_mod.SpecCache(path, ("v1",), dict(cfg.variables)).get(files[0], lambda e: []) \
        == exercise
    assert cache_mod.SpecCache(path, ("v2",), dict(cfg.variables)).get(files[0],
                                                                          lambda e: []) is None


def test_the_parser_version_follows_the_parser_source(tmp_path, monkeypatch):
    module = tmp_path / "kindmod.py"
    module.write_text("X = 1\n")
    import importlib.util
    import sys

    found = importlib.util.spec_from_file_location("kindmod_for_test", module)
    loaded_module = importlib.util.module_from_spec(found)
    monkeypatch.setitem(sys.modules, "kindmod_for_test", loaded_module)
    monkeypatch.setattr(loaded_module, "__file__", str(module))
    before = cache_mod.parser_version(["kindmod_for_test"])
    time.sleep(0.01)
    module.write_text("X = 22\n")
    assert cache_mod.parser_version(["kindmod_for_test"]) != before


def test_racy_a_file_written_this_instant_is_not_kept(tmp_path, parses):
    root = make(tmp_path)  # just written: an edit in the same clock tick would keep its key
    loaded(root)
    loaded(root)
    assert parses == ["one", "two", "one", "two"]
    old = time.time() - 10
    for path in (root / "exercises").rglob("*"):
        os.utime(path, (old, old))
    os.utime(root / "exercises/one", (old, old))
    # ctime stays "now": still not kept; a settled tree is (the fixture above)
    loaded(root)
    assert parses[-2:] == ["one", "two"]


def test_a_removed_exercise_leaves_the_cache(tmp_path, settled):
    root = make(tmp_path)
    loaded(root)
    (root / "exercises/two/exercise.yml").unlink()
    assert list(loaded(root)["good"]) == ["one"]
    cache = cache_mod.SpecCache(root / ".ac295/cache/specs.pickle",
                                cache_mod.parser_version(type(k).__module__
                                                         for k in project.KINDS),
                                dict(load_config(root).variables))
    assert [Path(p).parent.name for p in cache.entries] == ["one"]
