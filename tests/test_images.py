"""Images without an engine: the inputs digest of a build, import digests, the build stream."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from unittest import mock

import docker
import pytest

from tasks import images
from tasks.engine import LABEL_INPUTS, LABEL_TASK, Engine
from tasks.errors import BuildError, Where
from tasks.model import BuildStep, ImportStep

BASES = {"python:3.11": "sha256:py311"}


def make_context(folder: Path) -> Path:
    """A build context: a Dockerfile, sources, a script, and a file .dockerignore leaves out."""
    (folder / "src").mkdir(parents=True)
    (folder / "Dockerfile").write_text("FROM python:3.11\nCOPY . /app\n")
    (folder / "src" / "app.py").write_text("print('hello')\n")
    (folder / "run.sh").write_text("#!/bin/sh\npython /app/src/app.py\n")
    (folder / "notes.md").write_text("draft\n")
    (folder / ".dockerignore").write_text("# not sent to the engine\nnotes.md\n")
    return folder


def build_step(context: Path, args: dict[str, str] | None = None) -> BuildStep:
    return BuildStep(exercise="ex", name="image", doc="", after=(),
                     where=Where(context / "exercise.yml", 3, "steps.image"), context=context,
                     dockerfile=context / "Dockerfile", tag="me/app:1", args=args or {},
                     bases=tuple(BASES))


def bases_engine(ids: dict[str, str]) -> mock.Mock:
    """An Engine that knows the ids of these references only."""
    engine = mock.create_autospec(Engine, instance=True)
    engine.image_id.side_effect = ids.get
    return engine


@pytest.fixture
def step(tmp_path) -> BuildStep:
    return build_step(make_context(tmp_path / "ctx"))


def digest(step: BuildStep, ids: dict[str, str] = BASES) -> str | None:
    return images.inputs_digest(step, bases_engine(ids))


def test_same_files_same_digest(step, tmp_path):
    first = digest(step)
    assert first is not None and first.startswith("sha256:") and len(first) == 71
    assert digest(step) == first
    copy = tmp_path / "elsewhere" / "ctx"  # another folder, new mtimes: same inputs
    shutil.copytree(step.context, copy)
    assert digest(build_step(copy)) == first


def test_context_files_follow_dockerignore(step):
    assert images.context_files(step) == [".dockerignore", "Dockerfile", "run.sh", "src/app.py"]


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


def test_base_image_id_changes_the_digest(step):
    assert digest(step, {"python:3.11": "sha256:new"}) != digest(step)


def test_missing_base_is_none(step):
    engine = bases_engine({})
    assert images.inputs_digest(step, engine) is None
    engine.image_id.assert_called_once_with("python:3.11")


def test_fifo_in_the_context_is_a_build_error(step):
    os.mkfifo(step.context / "src" / "pipe")
    with pytest.raises(BuildError) as info:
        digest(step)
    message = str(info.value)
    assert "ex:image" in message and "pipe" in message and ".dockerignore" in message


# --- import digests --------------------------------------------------------------------------

def import_step(tarball: Path, changes: tuple[str, ...] = ("ENV A=1",)) -> ImportStep:
    return ImportStep(exercise="ex", name="rootfs", doc="", after=(),
                      where=Where(tarball.parent / "exercise.yml", 2, "steps.rootfs"),
                      tarball=tarball, tag="me/rootfs:1", changes=changes)


def test_import_digest_reuses_the_cached_hash(tmp_path, monkeypatch):
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(b"x" * 1000)
    step = import_step(tarball)
    cache = images.tarball_cache(step)
    hashed: list[Path] = []
    real = images.file_sha256
    monkeypatch.setattr(images, "file_sha256", lambda path: hashed.append(path) or real(path))
    cached = images.import_digest(step, cache)
    assert hashed == []
    assert images.import_digest(step, None) == cached and hashed == [tarball]
    tarball.write_bytes(b"y" * 1001)  # a new stat: hashed again, new digest
    assert images.import_digest(step, cache) != cached and len(hashed) == 2


def test_import_changes_change_the_digest(tmp_path):
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(b"x")
    assert images.import_digest(import_step(tarball), None) != \
        images.import_digest(import_step(tarball, ("ENV A=2",)), None)


def test_commit_digest():
    one = images.commit_digest("sha256:src", ("apt-get update", "apt-get install -y curl"))
    assert one == images.commit_digest("sha256:src", ("apt-get update", "apt-get install -y curl"))
    assert one != images.commit_digest("sha256:src", ("apt-get update",))
    assert one != images.commit_digest("sha256:src", ("apt-get install -y curl", "apt-get update"))
    assert one != images.commit_digest("sha256:other", ("apt-get update",
                                                         "apt-get install -y curl"))


# --- build against a spec'd fake client ------------------------------------------------------

def build_engine(chunks: list[dict[str, Any]],
                 inspect: dict[str, Any] | None = None) -> tuple[Engine, mock.Mock]:
    client = mock.Mock(spec=docker.DockerClient)
    client.api = mock.create_autospec(docker.APIClient, instance=True)
    client.api.build.return_value = iter(chunks)
    client.api.images.return_value = []
    client.api.inspect_image.return_value = inspect
    return Engine(factory=lambda: client, project="/p/.ac295"), client.api


FAILED = {"errorDetail": {"code": 1, "message": "The command '/bin/sh -c pip install nosuch' "
                          "returned a non-zero code: 1\n"},
          "error": "The command '/bin/sh -c pip install nosuch' returned a non-zero code: 1"}


def test_error_chunk_fails_the_build_with_the_last_lines(step):
    noise = [{"stream": f"noise {i:02}\n"} for i in range(20)]
    engine, api = build_engine(noise + [
        {"stream": "Step 2/3 : RUN pip install nosuch\n"}, {"stream": "\n"},
        {"stream": "ERROR: No matching distribution found for nosuch\n"}, FAILED,
        {"stream": "Successfully built 0123\n"}])
    lines: list[str] = []
    with pytest.raises(BuildError) as info:
        images.build(step, engine, "sha256:in", lines.append)
    message = str(info.value)
    assert "me/app:1" in message and "ex:image" in message and str(step.dockerfile) in message
    assert "returned a non-zero code: 1" in message
    assert "Step 2/3 : RUN pip install nosuch" in message
    assert "No matching distribution found for nosuch" in message
    assert "noise 00" not in message and "noise 19" in message  # only the tail
    assert "Successfully built" not in message and lines[-1].startswith("ERROR")
    api.inspect_image.assert_not_called()


def test_build_labels_the_image_and_returns_its_id(step):
    inspect = {"Id": "sha256:new", "RepoTags": ["me/app:1"],
               "Config": {"Labels": {LABEL_INPUTS: "sha256:in", LABEL_TASK: "ex:image"}}}
    engine, api = build_engine([{"stream": "Step 1/2 : FROM python:3.11\n"},
                                {"aux": {"ID": "sha256:new"}},
                                {"stream": "Successfully tagged me/app:1\n"}], inspect)
    step = build_step(step.context, {"VERSION": "1"})
    assert images.build(step, engine, "sha256:in", lambda line: None) == "sha256:new"
    kwargs = api.build.call_args.kwargs
    assert kwargs["labels"] == {LABEL_INPUTS: "sha256:in", LABEL_TASK: "ex:image"}
    assert (kwargs["path"], kwargs["dockerfile"], kwargs["tag"]) == \
        (str(step.context), "Dockerfile", "me/app:1")
    assert kwargs["buildargs"] == {"VERSION": "1"}
    assert kwargs["forcerm"] is True and kwargs["pull"] is False
    assert engine.image_id("me/app:1") == "sha256:new"


def test_build_whose_image_is_not_there_fails(step):
    inspect = {"Id": "sha256:other", "RepoTags": ["me/app:1"]}
    engine, _ = build_engine([{"aux": {"ID": "sha256:new"}}], inspect)
    with pytest.raises(BuildError, match="reported success"):
        images.build(step, engine, "sha256:in", lambda line: None)
