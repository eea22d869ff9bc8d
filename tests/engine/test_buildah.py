"""The buildah builder against a recorded command line: what makes its images reproducible
(the options, the names of bases, what is pushed where), and how its failures read."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers import fake_engine
from tasks.engine import buildah
from tasks.engine.buildah import Buildah
from tasks.engine.builders import BuildRequest, CommitRequest, Made
from tasks.errors import BuildError, CommandFailed

BASE = "127.0.0.1:5000/ac295/base:bookworm"
SOURCE = "127.0.0.1:5000/ac295/base@sha256:" + "b" * 64
DIGEST = "sha256:" + "d" * 64


class Recorder:
    """Stands in for ``buildah._command``: records each command, answers like buildah."""

    def __init__(self, names: dict[str, list[str]] | None = None,
                 manifests: list[str] | None = None) -> None:
        self.commands: list[list[str]] = []
        self.names = names or {}
        self.manifests = manifests or []  # what `inspect` answers, one after the other

    def __call__(self, args, timeout, progress, error, what):
        self.commands.append(list(args))
        verb = next((a for a in args[7:] if not a.startswith("-")), "") if args[0] == "buildah" \
            else args[0]
        if verb == "pull":
            return ["c" * 64]
        if verb == "inspect":
            return [self.manifests.pop(0) if self.manifests else SOURCE.split("@")[1]]
        if verb == "images":
            import json

            return [json.dumps([{"id": "sha256:" + k, "names": v}
                                for k, v in self.names.items()])]
        if verb in ("push", "skopeo"):
            digestfile = next(a for a in args if a.startswith("--digestfile="))
            Path(digestfile.split("=", 1)[1]).write_text(DIGEST + "\n")
        return []

    def verbs(self) -> list[str]:
        return [c[0] if c[0] != "buildah" else c[7] for c in self.commands]

    def one(self, verb: str) -> list[str]:
        found = [c for c in self.commands if c[0] == "buildah" and c[7] == verb]
        assert len(found) == 1, (verb, self.commands)
        return found[0]


@pytest.fixture
def setup(tmp_path, monkeypatch):
    engine, client = fake_engine()
    recorder = Recorder({"c" * 64: ["127.0.0.1:5000/ac295/base@sha256:" + "b" * 64,
                                    "localhost/ac295/base:bookworm"],
                         "f" * 64: ["127.0.0.1:5000/me/app:in-0123456789ab"]})
    monkeypatch.setattr(buildah, "_command", recorder)
    pulled: list[str] = []
    monkeypatch.setattr(buildah.registry, "pull",
                        lambda engine, ref, progress: pulled.append(ref) or "sha256:engine")
    monkeypatch.setattr(buildah.images, "tag", lambda engine, image_id, ref: None)
    builder = Buildah(engine=engine, root=tmp_path / "buildah", registry="127.0.0.1:5000",
                      epoch=1686355200)
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    return builder, recorder, pulled, tmp_path


def request(tmp_path: Path, **changes) -> BuildRequest:
    fields = dict(context=tmp_path / "ctx", dockerfile=tmp_path / "ctx" / "Dockerfile",
                  tag="127.0.0.1:5000/me/app:v1", args={"BASE_IMAGE": BASE}, labels={},
                  task="ex:image", bases={BASE: SOURCE},
                  transit="127.0.0.1:5000/me/app:in-0123456789ab")
    fields.update(changes)
    return BuildRequest(**fields)


def test_a_build_is_made_reproducibly_pushed_and_pulled_by_digest(setup):
    builder, recorder, pulled, tmp_path = setup
    made = builder.build(request(tmp_path), lambda line: None)
    bud = recorder.one("bud")
    assert bud[:7] == ["buildah", "--root", str(tmp_path / "buildah/storage"), "--runroot",
                       str(tmp_path / "buildah/run"), "--storage-driver", "vfs"]
    for option in ("--timestamp=1686355200", "--isolation=chroot", "--pull=never",
                   "--identity-label=false", "--format=oci"):
        assert option in bud
    # the base is named without the registry's host, and the build arg names it so
    assert "--build-arg=BASE_IMAGE=localhost/ac295/base:bookworm" in bud
    assert bud[bud.index("-t") + 1] == "127.0.0.1:5000/me/app:in-0123456789ab"
    push = recorder.one("push")
    assert push[-2:] == ["127.0.0.1:5000/me/app:in-0123456789ab",
                         "docker://127.0.0.1:5000/me/app:in-0123456789ab"]
    assert "--tls-verify=false" in push  # a loopback registry: plain HTTP
    assert pulled == [f"127.0.0.1:5000/me/app@{DIGEST}"]
    assert made == Made("sha256:engine", "127.0.0.1:5000/me/app:in-0123456789ab", DIGEST)
    assert made.notes() == {"registry": "127.0.0.1:5000/me/app:in-0123456789ab",
                            "registry_digest": DIGEST}


def test_the_base_is_pulled_by_digest_and_keeps_only_its_neutral_name(setup):
    builder, recorder, _, tmp_path = setup
    builder.build(request(tmp_path), lambda line: None)
    verbs = recorder.verbs()
    assert verbs.index("pull") < verbs.index("tag") < verbs.index("bud")
    assert recorder.one("pull")[-1] == f"docker://{SOURCE}"
    assert recorder.one("tag")[-2:] == ["c" * 64, "localhost/ac295/base:bookworm"]
    # buildah writes an image's first name into what it builds: the other name goes
    removed = [c[-1] for c in recorder.commands if c[0] == "buildah" and c[7] == "rmi"]
    assert "127.0.0.1:5000/ac295/base@sha256:" + "b" * 64 in removed
    assert "localhost/ac295/base:bookworm" not in removed
    # what was built is forgotten once pushed, whole (by id, whatever its names)
    assert recorder.commands[-1][7:] == ["rmi", "--force", "f" * 64]


def test_a_base_whose_stored_manifest_is_not_the_registrys_is_pulled_again(setup):
    builder, recorder, _, tmp_path = setup
    recorder.manifests = ["sha256:" + "9" * 64]  # built here once, with the same config
    builder.build(request(tmp_path), lambda line: None)
    verbs = recorder.verbs()
    assert verbs.count("pull") == 2 and verbs.count("tag") == 2
    forced = [c for c in recorder.commands if c[7:9] == ["rmi", "--force"]]
    assert forced[0][-1] == "c" * 64  # the base, gone whole before the second pull


def test_a_base_the_dockerfile_names_keeps_that_name(setup):
    builder, recorder, _, tmp_path = setup
    builder.build(request(tmp_path, args={}), lambda line: None)
    assert recorder.one("tag")[-1] == BASE


def test_a_base_in_no_registry_is_refused_with_the_way_out(setup):
    builder, _, _, tmp_path = setup
    with pytest.raises(BuildError, match="by digest"):
        builder.build(request(tmp_path, bases={BASE: ""}), lambda line: None)


def test_an_export_goes_to_a_folder_not_the_registry_nor_the_engine(setup):
    builder, recorder, pulled, tmp_path = setup
    made = builder.build(request(tmp_path), lambda line: None, export=tmp_path / "out")
    assert recorder.one("push")[-1] == f"oci:{tmp_path / 'out'}:image"
    assert pulled == [] and made == Made("", str(tmp_path / "out"), DIGEST)


def test_a_commit_is_one_run_from_the_source_by_digest(setup):
    builder, recorder, _, tmp_path = setup
    written: list[str] = []
    original = buildah._command

    def keep_dockerfile(args, *rest):
        if args[0] == "buildah" and args[7] == "bud":
            written.append(Path(args[args.index("-f") + 1]).read_text())
        return original(args, *rest)

    buildah._command = keep_dockerfile  # type: ignore[assignment]
    try:
        builder.commit(CommitRequest(
            source_id="sha256:src", source=SOURCE, commands=("echo hi > /x", "true"),
            tag="127.0.0.1:5000/me/app:mod", timeout=60, container_labels={}, labels={},
            task="ex:modify", fix="Fix it.", transit="127.0.0.1:5000/me/app:in-aaaaaaaaaaaa"),
            lambda line: None)
    finally:
        buildah._command = original  # type: ignore[assignment]
    assert written == ['FROM localhost/ac295/base:sha256-bbbbbbbbbbbb\n'
                       'RUN ["/bin/sh", "-c", "set -e\\necho hi > /x\\ntrue"]\n']


def test_a_push_copies_the_manifest_unchanged(setup):
    builder, recorder, _, tmp_path = setup
    digest, uploaded = builder.push("sha256:x", "127.0.0.1:5000/me/app:v1",
                                    f"127.0.0.1:5000/me/app@{DIGEST}", lambda line: None)
    copy = recorder.commands[-1]
    assert copy[:3] == ["skopeo", "copy", "--preserve-digests"]
    assert copy[-2:] == [f"docker://127.0.0.1:5000/me/app@{DIGEST}",
                         "docker://127.0.0.1:5000/me/app:v1"]
    assert (digest, uploaded) == (DIGEST, -1)


@pytest.mark.parametrize("tag, expected", [
    ("127.0.0.1:5000/me/app:v1", "127.0.0.1:5000/me/app:v1"),
    ("rpr-syllabus:first", "127.0.0.1:5000/ac295-local/rpr-syllabus:first")])
def test_an_image_with_a_local_name_goes_through_the_registry(tag, expected):
    assert buildah.in_registry(tag, "127.0.0.1:5000") == expected


@pytest.mark.parametrize("ref, name", [
    ("127.0.0.1:5000/ac295/base:bookworm", "localhost/ac295/base:bookworm"),
    ("registry.example.org:443/a/b", "localhost/a/b:latest"),
    ("python:3.11-slim", "localhost/python:3.11-slim"),
    (SOURCE, "localhost/ac295/base:sha256-bbbbbbbbbbbb")])
def test_neutral_names_hold_no_host(ref, name):
    assert buildah.neutral(ref) == name


@pytest.mark.parametrize("ref, tls", [("127.0.0.1:5000/a/b:c", "false"),
                                      ("localhost:5000/a/b", "false"),
                                      ("registry.example.org/a/b:c", "true")])
def test_tls_is_verified_beyond_loopback(ref, tls):
    assert buildah._tls(ref) == tls


def test_a_failed_command_names_its_step_and_quotes_its_tail():
    script = "echo STEP 1/2: FROM x; echo STEP 2/2: RUN false; echo boom; exit 3"
    with pytest.raises(BuildError) as info:
        buildah._command(["sh", "-c", script], 0, None, BuildError, "building app")
    text = str(info.value)
    assert "building app failed at step 2/2 (RUN false): exit 3" in text and "boom" in text


def test_a_command_over_its_timeout_is_killed_and_says_so():
    with pytest.raises(BuildError, match="over its timeout"):
        buildah._command([sys.executable, "-c", "import time; time.sleep(30)"], 1, None,
                         BuildError, "committing")


def test_a_missing_program_says_how_to_get_it():
    with pytest.raises(BuildError, match="script/bootstrap"):
        buildah._command(["no-such-buildah"], 0, None, BuildError, "building")


def test_chatter_is_not_shown_but_build_output_is():
    shown: list[str] = []
    buildah._command(["sh", "-c", "echo 'Getting image source signatures'; echo "
                      "'STEP 1/1: RUN x'; echo 'Copying blob sha256:aa'; echo answer"], 0,
                     shown.append, BuildError, "building")
    assert shown == ["STEP 1/1: RUN x", "answer"]


def test_a_failed_commit_is_a_failed_command(setup, monkeypatch):
    builder, recorder, _, tmp_path = setup

    def failing(args, *rest):
        if args[0] == "buildah" and args[7] == "bud":
            raise BuildError("committing failed: exit 1\n")
        return recorder(args, *rest)

    monkeypatch.setattr(buildah, "_command", failing)
    with pytest.raises(CommandFailed, match="Fix it"):
        builder.commit(CommitRequest(
            source_id="s", source=SOURCE, commands=("false",), tag="t", timeout=5,
            container_labels={}, labels={}, task="ex:modify", fix="Fix it.",
            transit="127.0.0.1:5000/me/app:in-aaaaaaaaaaaa"), lambda line: None)
