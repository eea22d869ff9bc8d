"""The build's inputs are exactly what the Docker SDK sends the engine.

The oracle is the SDK's own ``APIClient.build``: it reads ``.dockerignore`` itself, walks the
folder and makes the build-context tar it would POST to the engine; the test catches that
body (no engine is asked) and reads the tar with ``tarfile``. Every file or link in it must
be an input of the build's digest with the same bytes (or link target) and executable bit,
and nothing else may be: with negated rules, links to files, to folders and to nothing, and
for a context assembled with ``include:`` (which the test lays out by hand with shutil).
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import docker
import pytest

from tasks.engine import images
from tasks.errors import Where
from tasks.kinds import build
from tasks.kinds.build import BuildStep

BASES = {"python:3.11": "sha256:" + "1" * 64}


def sdk_sends(context: Path, dockerfile: str = "Dockerfile") -> dict[str, str]:
    """{member: "<x bit>:<sha256 of bytes>" or "<x bit>:link:<target>"} of the tar the SDK
    would send for ``docker build`` of ``context`` (folders left out: no input has one)."""
    api = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    sent: dict[str, bytes] = {}

    def post(url, data=None, **_kwargs):
        sent["body"] = data.read()

    api._post = post  # the request itself is all the test needs: no engine is asked
    api._set_auth_headers = lambda headers: None
    api.build(path=str(context), dockerfile=dockerfile, tag="oracle:1")
    found = {}
    with tarfile.open(fileobj=io.BytesIO(sent["body"])) as tar:
        for member in tar.getmembers():
            executable = int(bool(member.mode & 0o100))
            if member.issym():
                found[member.name] = f"{executable}:link:{member.linkname}"
            elif member.isfile():
                data = tar.extractfile(member).read()
                found[member.name] = f"{executable}:{hashlib.sha256(data).hexdigest()}"
    return found


def step_of(context: Path, include: dict[str, Path] | None = None,
            dockerfile: str = "Dockerfile") -> BuildStep:
    return BuildStep(exercise="ex", name="image", doc="", after=(),
                     where=Where(context / "exercise.yml", 3, "steps.image"), context=context,
                     dockerfile=context / dockerfile, tag="me/app:1", args={},
                     bases=tuple(BASES), include=include or {})


def file_inputs(step: BuildStep, root: Path) -> dict[str, str]:
    """The inputs of the digest that are context files (not args, images or the Dockerfile
    entry), as ``build.inputs_of`` names them."""
    _, parts = build.inputs_of(step, BASES, None, root)
    return {name: value for name, value in parts.items()
            if name != "the Dockerfile" and not name.startswith(("build arg ", "image "))}


def layout(context: Path) -> Path:
    """A context with every kind of entry the selection must get right."""
    (context / "src" / "deep").mkdir(parents=True)
    (context / "docs").mkdir()
    (context / "Dockerfile").write_text("FROM python:3.11\nCOPY . /app\n")
    (context / "src" / "app.py").write_text("print('app')\n")
    (context / "src" / "deep" / "keep.tmp").write_text("kept by a negated rule\n")
    (context / "src" / "deep" / "drop.tmp").write_text("dropped\n")
    (context / "docs" / "notes.md").write_text("ignored folder\n")
    (context / "run.sh").write_text("#!/bin/sh\n")
    (context / "run.sh").chmod(0o755)
    (context / "current").symlink_to("src/app.py")       # a link to a file
    (context / "code").symlink_to("src")                 # a link to a folder
    (context / "ignored-link").symlink_to("docs")        # a link a rule leaves out
    (context / "dangling").symlink_to("no/such/file")    # a link to nothing
    (context / ".dockerignore").write_text(
        "# comments and blank lines are no rules\n\n**/*.tmp\n!src/deep/keep.tmp\ndocs\n"
        "ignored-link\n")
    return context


@pytest.mark.parametrize("copies", ["the whole context", "some files"])
def test_the_inputs_are_what_the_sdk_sends(tmp_path, copies):
    context = layout(tmp_path / "ctx")
    if copies == "some files":
        (context / "Dockerfile").write_text("FROM python:3.11\nCOPY src /app/src\n")
    sent = sdk_sends(context)
    assert {"code", "current", "dangling", "src/deep/keep.tmp"} <= set(sent)  # the oracle saw them
    assert not {"docs/notes.md", "src/deep/drop.tmp", "ignored-link"} & set(sent)
    if copies == "some files":  # .dockerignore is sent, but only its rules matter then
        sent.pop(".dockerignore")
    assert file_inputs(step_of(context), context) == sent
    assert sorted(images.context_files(context, context / "Dockerfile")) == \
        sorted(set(sent) | {".dockerignore"})


def test_a_dockerfile_the_rules_leave_out_is_still_sent(tmp_path):
    context = layout(tmp_path / "ctx")
    (context / "build.dockerfile").write_text("FROM python:3.11\nCOPY . /app\n")
    (context / ".dockerignore").write_text("*.dockerfile\n")
    sent = sdk_sends(context, "build.dockerfile")
    assert "build.dockerfile" in sent
    assert file_inputs(step_of(context, dockerfile="build.dockerfile"), context) == sent


def test_an_assembled_context_is_what_the_sdk_sends_for_the_same_tree(tmp_path):
    context = layout(tmp_path / "exercise")
    (context / ".dockerignore").write_text(
        (context / ".dockerignore").read_text() + "wheelhouse/*.partial\n")
    wheels = tmp_path / "state" / "venv" / "wheelhouse"
    wheels.mkdir(parents=True)
    (wheels / "six-1.16.0-py2.py3-none-any.whl").write_bytes(b"PK\x03\x04six")
    (wheels / "requirements.lock").write_text("six==1.16.0\n")
    (wheels / "half.partial").write_text("left out by the exercise's rules\n")
    (wheels / "latest.whl").symlink_to("six-1.16.0-py2.py3-none-any.whl")
    by_hand = tmp_path / "by-hand"  # the same tree, laid out by the test
    shutil.copytree(context, by_hand, symlinks=True)
    shutil.copytree(wheels, by_hand / "wheelhouse", symlinks=True)
    sent = sdk_sends(by_hand)
    assert "wheelhouse/six-1.16.0-py2.py3-none-any.whl" in sent
    assert "wheelhouse/latest.whl" in sent and "wheelhouse/half.partial" not in sent
    step = step_of(context, {"wheelhouse": wheels})
    rt = type("Rt", (), {"config": type("C", (), {"state": tmp_path / "state"})()})()
    root = build.context_root(rt, step)
    assert root.is_relative_to(tmp_path / "state")  # assembled in the state folder
    assert file_inputs(step, root) == sent
    assert sdk_sends(root) == sent  # and the SDK sends the assembled tree the same


def test_a_symlinked_folder_is_one_input_its_target(tmp_path):
    context = layout(tmp_path / "ctx")
    step = step_of(context)
    before = build.inputs_digest(step, BASES)
    (context / "other").mkdir()
    (context / "code").unlink()
    (context / "code").symlink_to("other")  # the same name, another target
    assert sdk_sends(context)["code"] == "1:link:other"
    assert build.inputs_digest(step, BASES) != before
    (context / "src" / "app.py").write_text("print('changed behind the link')\n")
    assert file_inputs(step, context)["src/app.py"] == sdk_sends(context)["src/app.py"]


def test_the_sdk_walk_does_not_follow_a_folder_link(tmp_path):
    context = layout(tmp_path / "ctx")
    sent = sdk_sends(context)
    assert not any(name.startswith("code/") for name in sent)
    assert not any(name.startswith("code/") for name in file_inputs(step_of(context), context))
    assert os.path.islink(context / "code")
