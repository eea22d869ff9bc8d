"""Building images against a spec'd fake client: the build stream, labels, the image id."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import docker.errors
import pytest

from helpers import fake_engine
from tasks.engine import images
from tasks.engine.client import LABEL_MADE, Engine
from tasks.errors import BuildError, EngineError

LABELS = {LABEL_MADE: "sha256:in ex:image /p/.ac295"}


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
    client.api.inspect_image.side_effect = None  # answers ``inspect`` whatever is asked
    client.api.inspect_image.return_value = inspect
    return engine, client.api


FAILED = {"errorDetail": {"code": 1, "message": "The command '/bin/sh -c pip install nosuch' "
                          "returned a non-zero code: 1\n"},
          "error": "The command '/bin/sh -c pip install nosuch' returned a non-zero code: 1"}


def test_error_chunk_fails_the_build_naming_the_step_once(context):
    noise = [{"stream": f"noise {i:02}\n"} for i in range(20)]
    engine, api = build_engine(noise + [
        {"stream": "Step 2/3 : RUN pip install nosuch\n"}, {"stream": "\n"},
        {"stream": "\x1b[31mERROR: No matching distribution found for nosuch\x1b[0m\n"},
        FAILED, {"stream": "Successfully built 0123\n"}])
    lines: list[str] = []
    with pytest.raises(BuildError) as info:
        build(engine, context, lines=lines)
    message = str(info.value)
    assert "me/app:1" in message and "ex:image" in message
    assert str(context / "Dockerfile") in message
    assert "at step 2/3 (RUN pip install nosuch)" in message
    assert "the command returned a non-zero code: 1" in message
    # the output was shown as it came: the message does not say it again
    assert "No matching distribution" not in message and "noise" not in message
    assert "\x1b" not in message
    assert "Successfully built" not in "".join(lines) and lines[-1].startswith("\x1b[31mERROR")
    api.inspect_image.assert_not_called()


def test_a_dockerfile_parse_error_names_the_file_and_line(context):
    engine, _ = build_engine([{"errorDetail": {"message": "dockerfile parse error line 2: "
                                               "unknown instruction: COPYY"},
                               "error": "dockerfile parse error line 2: unknown instruction: "
                                        "COPYY"}])
    with pytest.raises(BuildError) as info:
        build(engine, context)
    assert str(info.value).startswith(f"{context / 'Dockerfile'}:2: unknown instruction: COPYY")


def test_the_layers_of_a_failed_build_are_removed(context):
    engine, api = build_engine([
        {"stream": "Step 1/3 : FROM python:3.11\n"}, {"stream": " ---> 0123456789ab\n"},
        {"stream": "Step 2/3 : COPY . /app\n"}, {"stream": " ---> Using cache\n"},
        {"stream": " ---> aaaaaaaaaaaa\n"},
        {"stream": "Step 3/3 : RUN make\n"}, {"stream": " ---> bbbbbbbbbbbb\n"},
        FAILED])
    with pytest.raises(BuildError):
        build(engine, context)
    removed = [c.args[0] for c in api.remove_image.call_args_list]
    assert removed == ["bbbbbbbbbbbb"]  # made by this build: not its base, not a cached one


def test_build_labels_the_image_and_returns_its_id(context):
    inspect = {"Id": "sha256:new", "RepoTags": ["me/app:1"],
               "Config": {"Labels": LABELS}}
    engine, api = build_engine([{"stream": "Step 1/2 : FROM python:3.11\n"},
                                {"aux": {"ID": "sha256:new"}},
                                {"stream": "Successfully tagged me/app:1\n"}], inspect)
    assert build(engine, context, {"VERSION": "1"}) == "sha256:new"
    kwargs = api.build.call_args.kwargs
    assert kwargs["labels"] == LABELS  # one label: one LABEL step
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


# --- the context selection, kept between runs ------------------------------------------------

@pytest.mark.parametrize("change", ["nothing", "a new file", "a new ignore rule", "a removed file",
                                    "a corrupt memo", "another Dockerfile name"])
def test_a_kept_context_selection_equals_the_matcher(tmp_path, change):
    context = tmp_path / "ctx"
    (context / "src").mkdir(parents=True)
    for name in ("Dockerfile", "Other.dockerfile", "src/app.py", "notes.tmp", "keep.txt"):
        (context / name).write_text(name)
    (context / ".dockerignore").write_text("*.tmp\n")
    memo = tmp_path / "memo.json"
    dockerfile = context / "Dockerfile"
    images.context_files(context, dockerfile, memo)
    assert memo.is_file()
    if change == "a new file":
        (context / "src/more.py").write_text("x")
    elif change == "a new ignore rule":
        (context / ".dockerignore").write_text("*.tmp\nkeep.txt\n")
    elif change == "a removed file":
        (context / "keep.txt").unlink()
    elif change == "a corrupt memo":
        memo.write_text("{not json")
    elif change == "another Dockerfile name":
        dockerfile = context / "Other.dockerfile"
    # the oracle: docker-py's matcher itself, with no memo
    assert images.context_files(context, dockerfile, memo) == \
        images.context_files(context, dockerfile)


# --- an image's file tree and start-up config, for the VM's initramfs -------------------------

def test_export_tree_streams_the_tar_and_removes_its_container(tmp_path):
    engine, client = fake_engine()
    client.api.create_container.return_value = {"Id": "c1"}
    client.api.export.return_value = iter([b"tar ", b"bytes"])
    with open(tmp_path / "tree.tar", "wb") as out:
        images.export_tree(engine, "sha256:abc", out)
    assert (tmp_path / "tree.tar").read_bytes() == b"tar bytes"
    client.api.create_container.assert_called_once_with(
        "sha256:abc", command=["/bin/true"], entrypoint=[], network_disabled=True)
    client.api.start.assert_not_called()  # exported, never run
    client.api.remove_container.assert_called_once_with("c1", force=True)


def test_export_tree_removes_its_container_when_the_export_fails(tmp_path):
    engine, client = fake_engine()
    client.api.create_container.return_value = {"Id": "c1"}
    client.api.export.side_effect = docker.errors.APIError("export failed")
    with open(tmp_path / "tree.tar", "wb") as out, pytest.raises(EngineError):
        images.export_tree(engine, "sha256:abc", out)
    client.api.remove_container.assert_called_once_with("c1", force=True)


def test_config_is_what_a_container_starts_with():
    engine, client = fake_engine()
    client.api.inspect_image.side_effect = None
    client.api.inspect_image.return_value = {
        "Created": "2026-11-29T10:00:00.123Z",
        "Config": {"Env": ["PATH=/usr/bin", "A=b"], "WorkingDir": "/app", "Cmd": ["python3"]}}
    assert images.config(engine, "sha256:abc") == images.ImageConfig(
        env=["PATH=/usr/bin", "A=b"], workdir="/app", created="2026-11-29T10:00:00.123Z")
    client.api.inspect_image.return_value = {"Config": None}
    assert images.config(engine, "sha256:abc") == images.ImageConfig([], "", "")


def test_untag_removes_the_name_and_a_missing_one_is_fine():
    engine, client = fake_engine()
    images.untag(engine, "127.0.0.1:4000/ac295/x:job-1")
    client.api.remove_image.assert_called_once_with("127.0.0.1:4000/ac295/x:job-1")
    client.api.remove_image.side_effect = docker.errors.NotFound("no such image")
    images.untag(engine, "127.0.0.1:4000/ac295/x:job-1")


def test_tags_with_a_prefix():
    engine, client = fake_engine([
        {"Id": "sha256:1", "RepoTags": ["127.0.0.1:4000/a/b:1", "me/b:1"]},
        {"Id": "sha256:2", "RepoTags": None},
        {"Id": "sha256:3", "RepoTags": ["127.0.0.1:40001/a/b:1", "127.0.0.1:4000/c:2"]}])
    assert images.tags(engine, "127.0.0.1:4000/") == ["127.0.0.1:4000/a/b:1",
                                                      "127.0.0.1:4000/c:2"]


def test_a_build_that_printed_nothing_does_not_point_above(context):
    def refused():
        raise docker.errors.APIError("500 Server Error", explanation="the Dockerfile "
                                     "(Dockerfile) cannot be empty")
        yield  # a generator, as the SDK's stream is

    engine, api = build_engine([])
    api.build.return_value = refused()
    with pytest.raises(BuildError) as info:
        build(engine, context)
    assert "cannot be empty" in str(info.value) and "above" not in str(info.value)
    engine, _ = build_engine([{"stream": "Step 1/2 : FROM python:3.11\n"}, FAILED])
    with pytest.raises(BuildError) as info:
        build(engine, context)
    assert "Its output is above." in str(info.value)


# --- an import gets a config with a fixed time --------------------------------------------

def test_an_import_is_loaded_again_with_a_config_that_holds_no_clock(tmp_path):
    import hashlib
    import io
    import json
    import tarfile

    engine, client = fake_engine()
    imported = {"Id": "sha256:imported", "RepoTags": ["me/base:1"], "Architecture": "amd64",
                "Os": "linux", "Config": {"Cmd": ["python3"], "Env": ["LANG=C.UTF-8"]},
                "RootFS": {"Layers": ["sha256:" + "1" * 64]}}
    loaded: list[bytes] = []

    def load_image(data):
        loaded.append(data)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())[0]
            raw = tar.extractfile(manifest["Config"]).read()
        client.api.images.return_value = [{"Id": "sha256:" + hashlib.sha256(raw).hexdigest(),
                                           "RepoTags": ["me/base:1"]}]
        return iter([{"stream": "Loaded image: me/base:1\n"}])

    def inspect(ref):  # the imported image by its id; the tag names what was loaded last
        return imported if ref == "sha256:imported" else {
            "Id": client.api.images.return_value[0]["Id"], "RepoTags": ["me/base:1"]}

    client.api.inspect_image.side_effect = inspect
    client.api.load_image.side_effect = load_image
    new_id = images.fixed_config(engine, "sha256:imported", "me/base:1", 1686355200)
    with tarfile.open(fileobj=io.BytesIO(loaded[0])) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())[0]
        config = json.loads(tar.extractfile(manifest["Config"]).read())
    # no layer travels: the engine has it; only the config and the manifest do
    assert sorted(names) == sorted([manifest["Config"], "manifest.json"])
    assert manifest["RepoTags"] == ["me/base:1"] and manifest["Layers"] == ["0/layer.tar"]
    assert config["created"] == "2023-06-10T00:00:00Z"
    assert config["history"] == [{"created": "2023-06-10T00:00:00Z",
                                  "comment": "Imported from -"}]
    assert config["config"] == imported["Config"]
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}
    assert new_id == "sha256:" + manifest["Config"].split(".")[0]
    client.api.remove_image.assert_called_once_with("sha256:imported")
    # the same import on another day gives the same config, so the same id
    again = images.fixed_config(engine, "sha256:imported", "me/base:1", 1686355200)
    assert again == new_id and loaded[1] == loaded[0]


def test_epoch_time():
    assert images.epoch_time(0) == "1970-01-01T00:00:00Z"
    assert images.epoch_time(1686355200) == "2023-06-10T00:00:00Z"
