"""The build kind without an engine: its inputs digest."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tasks.engine import images
from tasks.errors import BuildError, Where
from tasks.kinds import build
from tasks.kinds.build import BuildStep

# The content identity of each image the build reads (a step's record, or the registry's).
BASES: dict[str, str | None] = {"python:3.11": "repo:sha256:" + "1" * 64}


def make_context(folder: Path) -> Path:
    """A build context: a Dockerfile, sources, a script, and a file .dockerignore leaves out."""
    (folder / "src").mkdir(parents=True)
    (folder / "Dockerfile").write_text("FROM python:3.11\nCOPY . /app\n")
    (folder / "src" / "app.py").write_text("print('hello')\n")
    (folder / "run.sh").write_text("#!/bin/sh\npython /app/src/app.py\n")
    (folder / "notes.md").write_text("draft\n")
    (folder / ".dockerignore").write_text("# not sent to the engine\nnotes.md\n")
    return folder


def build_step(context: Path, args: dict[str, str] | None = None,
               bases: tuple[str, ...] = tuple(BASES)) -> BuildStep:
    return BuildStep(exercise="ex", name="image", doc="", after=(),
                     where=Where(context / "exercise.yml", 3, "steps.image"), context=context,
                     dockerfile=context / "Dockerfile", tag="me/app:1", args=args or {},
                     bases=bases)


@pytest.fixture
def step(tmp_path) -> BuildStep:
    return build_step(make_context(tmp_path / "ctx"))


def digest(step: BuildStep, ids: dict[str, str | None] = BASES) -> str | None:
    return build.inputs_digest(step, ids)


def test_same_files_same_digest(step, tmp_path):
    first = digest(step)
    assert first is not None and first.startswith("sha256:") and len(first) == 71
    assert digest(step) == first
    copy = tmp_path / "elsewhere" / "ctx"  # another folder, new mtimes: same inputs
    shutil.copytree(step.context, copy)
    assert digest(build_step(copy)) == first


def test_context_files_follow_dockerignore(step):
    assert images.context_files(step.context, step.dockerfile) == [".dockerignore", "Dockerfile", "run.sh", "src/app.py"]


@pytest.mark.parametrize("edit", [
    lambda ctx: (ctx / "src" / "app.py").write_text("print('bye')\n"),
    lambda ctx: (ctx / "Dockerfile").write_text("FROM python:3.11\nCOPY . /srv\n"),
    lambda ctx: (ctx / "src" / "new.py").write_text(""),
    lambda ctx: (ctx / "src" / "app.py").rename(ctx / "src" / "main.py"),
    lambda ctx: (ctx / "run.sh").chmod(0o755),
], ids=["content", "dockerfile", "new file", "rename", "chmod +x"])
def test_a_context_change_changes_the_digest(step, edit):
    before = digest(step)
    edit(step.context)
    assert digest(step) != before


@pytest.mark.parametrize("edit", [
    lambda ctx: (ctx / "notes.md").write_text("final\n"),
    lambda ctx: (ctx / "notes.md").chmod(0o755),
    lambda ctx: (ctx / "src" / "app.py").touch(),  # mtime only
], ids=["ignored content", "ignored chmod", "touch"])
def test_what_the_build_does_not_see_keeps_the_digest(step, edit):
    before = digest(step)
    edit(step.context)
    assert digest(step) == before


def test_build_args_change_the_digest(step):
    plain = digest(step)
    with_arg = digest(build_step(step.context, {"VERSION": "1"}))
    assert with_arg != plain
    assert digest(build_step(step.context, {"VERSION": "2"})) not in (plain, with_arg)


def test_base_image_identity_changes_the_digest(step):
    assert digest(step, {"python:3.11": "sha256:new"}) != digest(step)


def test_missing_base_is_none(step):
    assert build.inputs_digest(step, {"python:3.11": None}) is None


def test_a_comment_in_dockerignore_changes_nothing_its_rules_do(step):
    ignore = step.context / ".dockerignore"
    (step.context / "Dockerfile").write_text("FROM python:3.11\nCOPY src /app/src\n")
    before = digest(step)
    ignore.write_text(ignore.read_text() + "# a comment\n")
    assert digest(step) == before
    ignore.write_text(ignore.read_text() + "run.sh\n")  # a rule that selects fewer files
    assert digest(step) != before


def test_dockerignore_counts_when_the_whole_context_is_copied(step):
    # COPY . /app copies .dockerignore itself into the image: its bytes are content then.
    before = digest(step)
    ignore = step.context / ".dockerignore"
    ignore.write_text(ignore.read_text() + "# a comment\n")
    assert digest(step) != before


def test_the_registry_host_of_a_base_is_not_an_input(tmp_path):
    context = make_context(tmp_path / "ctx")
    (context / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    here = build_step(context, {"BASE_IMAGE": "127.0.0.1:5000/ac295/base:bookworm"},
                      ("127.0.0.1:5000/ac295/base:bookworm",))
    there = build_step(context, {"BASE_IMAGE": "registry.example:443/ac295/base:bookworm"},
                       ("registry.example:443/ac295/base:bookworm",))
    identity = "sha256:" + "2" * 64
    assert digest(here, {here.bases[0]: identity}) == digest(there, {there.bases[0]: identity})
    assert digest(here, {here.bases[0]: identity}) != \
        digest(here, {here.bases[0]: "sha256:" + "3" * 64})


def test_an_image_read_by_copy_from_is_an_input(tmp_path):
    context = make_context(tmp_path / "ctx")
    (context / "Dockerfile").write_text("FROM python:3.11\nCOPY --from=me/tools:1 /x /x\n")
    step = build_step(context, bases=("python:3.11", "me/tools:1"))
    one = digest(step, {**BASES, "me/tools:1": "sha256:" + "4" * 64})
    two = digest(step, {**BASES, "me/tools:1": "sha256:" + "5" * 64})
    assert one and two and one != two
    assert digest(step, {**BASES, "me/tools:1": None}) is None


def test_fifo_in_the_context_is_a_build_error(step):
    os.mkfifo(step.context / "src" / "pipe")
    with pytest.raises(BuildError) as info:
        digest(step)
    message = str(info.value)
    assert "ex:image" in message and "pipe" in message and ".dockerignore" in message
