"""Building images against a spec'd fake client: the build stream, labels, the image id."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from helpers import fake_engine
from tasks.engine import images
from tasks.engine.client import LABEL_INPUTS, LABEL_TASK, Engine
from tasks.errors import BuildError

LABELS = {LABEL_INPUTS: "sha256:in", LABEL_TASK: "ex:image"}


@pytest.fixture
def context(tmp_path) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\n")
    return tmp_path


def build(engine: Engine, context: Path, args: dict[str, str] | None = None,
          lines: list[str] | None = None) -> str:
    return images.build(engine, context, context / "Dockerfile", "me/app:1", args or {},
                        LABELS, "ex:image",
                        lines.append if lines is not None else lambda line: None)


def build_engine(chunks: list[dict[str, Any]],
                 inspect: dict[str, Any] | None = None) -> tuple[Engine, mock.Mock]:
    engine, client = fake_engine()
    client.api.build.return_value = iter(chunks)
    client.api.inspect_image.return_value = inspect
    return engine, client.api


FAILED = {"errorDetail": {"code": 1, "message": "The command '/bin/sh -c pip install nosuch' "
                          "returned a non-zero code: 1\n"},
          "error": "The command '/bin/sh -c pip install nosuch' returned a non-zero code: 1"}


def test_error_chunk_fails_the_build_with_the_last_lines(context):
    noise = [{"stream": f"noise {i:02}\n"} for i in range(20)]
    engine, api = build_engine(noise + [
        {"stream": "Step 2/3 : RUN pip install nosuch\n"}, {"stream": "\n"},
        {"stream": "ERROR: No matching distribution found for nosuch\n"}, FAILED,
        {"stream": "Successfully built 0123\n"}])
    lines: list[str] = []
    with pytest.raises(BuildError) as info:
        build(engine, context, lines=lines)
    message = str(info.value)
    assert "me/app:1" in message and "ex:image" in message
    assert str(context / "Dockerfile") in message
    assert "returned a non-zero code: 1" in message
    assert "Step 2/3 : RUN pip install nosuch" in message
    assert "No matching distribution found for nosuch" in message
    assert "noise 00" not in message and "noise 19" in message  # only the tail
    assert "Successfully built" not in message and lines[-1].startswith("ERROR")
    api.inspect_image.assert_not_called()


def test_build_labels_the_image_and_returns_its_id(context):
    inspect = {"Id": "sha256:new", "RepoTags": ["me/app:1"],
               "Config": {"Labels": {LABEL_INPUTS: "sha256:in", LABEL_TASK: "ex:image"}}}
    engine, api = build_engine([{"stream": "Step 1/2 : FROM python:3.11\n"},
                                {"aux": {"ID": "sha256:new"}},
                                {"stream": "Successfully tagged me/app:1\n"}], inspect)
    assert build(engine, context, {"VERSION": "1"}) == "sha256:new"
    kwargs = api.build.call_args.kwargs
    assert kwargs["labels"] == {LABEL_INPUTS: "sha256:in", LABEL_TASK: "ex:image"}
    assert (kwargs["path"], kwargs["dockerfile"], kwargs["tag"]) == \
        (str(context), "Dockerfile", "me/app:1")
    assert kwargs["buildargs"] == {"VERSION": "1"}
    assert kwargs["forcerm"] is True and kwargs["pull"] is False
    assert engine.image_id("me/app:1") == "sha256:new"


def test_build_whose_image_is_not_there_fails(context):
    inspect = {"Id": "sha256:other", "RepoTags": ["me/app:1"]}
    engine, _ = build_engine([{"aux": {"ID": "sha256:new"}}], inspect)
    with pytest.raises(BuildError, match="reported success"):
        build(engine, context)
