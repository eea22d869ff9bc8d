"""What the image kinds ask of the builder, without an engine: the builder in the inputs digest
(a switch reruns, and `why` names it), reuse through the registry and the notes a
reproducible builder leaves, what a build asks buildah for, the lock's registry digests, the
push that copies a manifest, and the registry set up for image steps under buildah."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from helpers import DIGEST, compile_project, record, runtime, write_project
from tasks.engine.builders import Made
from tasks.engine.client import LABEL_MADE
from tasks.errors import Ac295Error, Where
from tasks.kinds import KINDS, build, push, records, reuse
from tasks.kinds.actions import Recording
from tasks.kinds.build import BuildStep
from tasks.kinds.push import PushStep
from tasks.kinds.runtime import Runtime
from tasks import repro

REGISTRY_DIGEST = "sha256:" + "e" * 64
BASE = "127.0.0.1:5000/ac295/base:bookworm"


def with_builder(rt: Runtime, builder: str, epoch: str = "1686355200") -> Runtime:
    cfg = replace(rt.config, variables={**rt.config.variables, "builder": builder,
                                        "source_date_epoch": epoch})
    return Runtime(cfg, engine=rt.engine)


def notes(rt: Runtime, task: str, **data: Any) -> None:
    records.write(records.local_of(rt.record_path(task)), {"task": task, **data})


def build_step(tmp_path: Path) -> BuildStep:
    context = tmp_path / "ctx"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY q.py /q.py\n")
    (context / "q.py").write_text("print(2640)\n")
    return BuildStep(exercise="ex", name="image", doc="", after=(),
                     where=Where(tmp_path / "exercise.yml", 3, "steps.image"), context=context,
                     dockerfile=context / "Dockerfile", tag="127.0.0.1:5000/me/app:1",
                     args={"BASE_IMAGE": BASE}, bases=(BASE,))


def test_the_builder_salts_the_inputs_digest_docker_not_at_all(tmp_path):
    rt, _ = runtime(tmp_path)
    assert reuse.made_digest(rt, DIGEST) == DIGEST  # docker: the digests of before
    buildah = reuse.made_digest(with_builder(rt, "buildah"), DIGEST)
    assert buildah != DIGEST and buildah.startswith("sha256:")
    assert reuse.made_digest(with_builder(rt, "buildah", "0"), DIGEST) != buildah
    assert reuse.builder_part(rt) == {"the builder": "docker"}
    assert reuse.builder_part(with_builder(rt, "buildah")) == {
        "the builder": "buildah/vfs@1686355200"}


def test_a_switch_of_builder_reruns_the_build_and_why_names_it(tmp_path):
    rt, _ = runtime(tmp_path)
    step = build_step(tmp_path)
    maker = record(rt, "base:image", content_digest=DIGEST)
    makers = {BASE: maker}
    digest, parts = build.made_inputs(rt, step, makers)
    record(rt, step.task, content_digest=DIGEST)
    notes(rt, step.task, inputs_digest=digest, image_id="sha256:app", inputs=parts)
    verdict = build.uptodate(with_builder(rt, "buildah"), step, makers)
    assert not verdict.fresh
    assert verdict.reason == "the builder changed (docker -> buildah/vfs@1686355200)"


def test_a_build_under_buildah_labels_nothing_and_reads_bases_from_the_registry(tmp_path):
    rt, _ = runtime(tmp_path)
    step = build_step(tmp_path)
    maker = record(rt, "base:image", content_digest=DIGEST)
    notes(rt, "base:image", registry="127.0.0.1:5000/ac295/base:in-0123456789ab",
          registry_digest=REGISTRY_DIGEST, image_id="sha256:base")
    asked = build.request(with_builder(rt, "buildah"), step, {BASE: maker}, DIGEST)
    assert asked.labels == {} and asked.bases == {
        BASE: f"127.0.0.1:5000/ac295/base@{REGISTRY_DIGEST}"}
    assert asked.transit == "127.0.0.1:5000/me/app:in-0123456789ab"
    docker = build.request(rt, step, {BASE: maker}, DIGEST)
    assert set(docker.labels) == {LABEL_MADE} and docker.bases == {} and docker.transit == ""


def test_under_buildah_an_image_is_reused_from_its_content_tag_with_its_digest(tmp_path,
                                                                              monkeypatch):
    rt = with_builder(runtime(tmp_path)[0], "buildah")
    asked: list[str] = []
    monkeypatch.setattr(Runtime, "served_digest",
                        lambda self, ref: asked.append(ref) or REGISTRY_DIGEST)
    monkeypatch.setattr(Runtime, "local_registry", property(lambda self: None))
    pulled: list[str] = []
    monkeypatch.setattr(reuse.registry, "pull",
                        lambda engine, ref, progress: pulled.append(ref) or "sha256:pulled")
    monkeypatch.setattr(reuse.images, "tag", lambda engine, image_id, ref: None)
    monkeypatch.setattr(reuse, "content_of", lambda rt, image_id: "sha256:content")
    recording = Recording()
    made = reuse.make_image(rt, "ex:image", "me-app:1", DIGEST,
                            lambda: pytest.fail("nothing to make"), recording)
    assert made == "sha256:pulled"
    assert asked == ["127.0.0.1:5000/ac295-local/me-app:in-0123456789ab"]
    assert pulled == [f"127.0.0.1:5000/ac295-local/me-app@{REGISTRY_DIGEST}"]
    assert recording.data == {"content_digest": "sha256:content"}  # the record: content only
    assert recording.local == {"inputs_digest": DIGEST, "image_id": "sha256:pulled",
                               "registry": "127.0.0.1:5000/ac295-local/me-app:in-0123456789ab",
                               "registry_digest": REGISTRY_DIGEST}


def test_under_buildah_a_missing_content_tag_means_making_it(tmp_path, monkeypatch):
    rt = with_builder(runtime(tmp_path)[0], "buildah")
    monkeypatch.setattr(Runtime, "served_digest", lambda self, ref: None)
    monkeypatch.setattr(reuse.images, "tag", lambda engine, image_id, ref: None)
    monkeypatch.setattr(reuse, "content_of", lambda rt, image_id: "sha256:content")
    recording = Recording()
    reuse.make_image(rt, "ex:image", "me-app:1", DIGEST,
                     lambda: Made("sha256:new", "r/me-app:in-x", REGISTRY_DIGEST), recording)
    assert recording.local["registry_digest"] == REGISTRY_DIGEST


@pytest.mark.parametrize("kind", ["build", "import", "commit", "push"])
def test_the_lock_keeps_a_registry_digest_only_where_one_is_noted(kind):
    class Step:
        task = "ex:s"

        def __init__(self) -> None:
            self.exercise, self.name = "ex", "s"

    step: Any = Step()
    record_ = {"content_digest": DIGEST, "inputs_digest": DIGEST, "manifest": []}
    with_digest = KINDS[kind].lock_facts(step, record_, {"registry_digest": REGISTRY_DIGEST})
    without = KINDS[kind].lock_facts(step, record_, {"digest": REGISTRY_DIGEST})
    assert with_digest["registry_digest"] == REGISTRY_DIGEST
    assert "registry_digest" not in without


def test_a_push_under_buildah_copies_the_manifest_the_build_pushed(tmp_path, monkeypatch):
    rt = with_builder(runtime(tmp_path)[0], "buildah")
    record(rt, "ex:image", content_digest=DIGEST)
    notes(rt, "ex:image", inputs_digest=DIGEST, image_id="sha256:app",
          registry="127.0.0.1:5000/me/app:in-0123456789ab", registry_digest=REGISTRY_DIGEST)
    served: dict[str, str | None] = {}
    monkeypatch.setattr(Runtime, "served_digest", lambda self, ref: served.get(ref))
    monkeypatch.setattr(push.images, "tag", lambda engine, image_id, ref: None)
    monkeypatch.setattr(rt.engine, "image_id", lambda ref: None)
    monkeypatch.setattr(rt.engine, "refresh", lambda ref: None)
    copies: list[tuple[str, str]] = []

    class Fake:
        reproducible = True

        def push(self, image_id, ref, source, progress):
            copies.append((ref, source))
            served[ref] = REGISTRY_DIGEST
            return REGISTRY_DIGEST, -1

    monkeypatch.setattr(Runtime, "builder", property(lambda self: Fake()))
    step = PushStep(exercise="ex", name="push", doc="", after=(), where=Where(tmp_path, 1),
                    image="image", tag=None)
    push.run(rt, step, "127.0.0.1:5000/me/app:v1")
    source = f"127.0.0.1:5000/me/app@{REGISTRY_DIGEST}"
    assert copies == [("127.0.0.1:5000/me/app:v1", source),
                      ("127.0.0.1:5000/me/app:in-0123456789ab", source)]
    local = records.read(records.local_of(rt.record_path("ex:push")))
    assert local is not None and local["registry_digest"] == REGISTRY_DIGEST
    copies.clear()  # the registry serves it already: nothing is copied
    push.run(rt, step, "127.0.0.1:5000/me/app:v1")
    assert copies == []


CONFIG = ("variables:\n  registry: 127.0.0.1:5000\n  builder: docker\n"
          "  base_image: 127.0.0.1:5000/ac295/base:1\n  local_prefix: ''\n")
FILES = {"exercises/ex/exercise.yml": "doc: d\nsteps:\n  image: {build: ., tag: 'me-app:1'}\n",
         "exercises/ex/Dockerfile": "FROM scratch\n"}


def test_under_buildah_every_image_step_starts_the_local_registry_first(tmp_path):
    root = write_project(tmp_path / "p", FILES, CONFIG)
    docker, _, _ = compile_project(root)
    assert "setup" not in docker["ex:image"]  # a local name: no registry under docker
    buildah, _, _ = compile_project(root, {"AC295_BUILDER": "buildah"})
    assert buildah["ex:image"]["setup"] == ["registry_start"]


def test_repro_check_refuses_what_is_no_image_step(tmp_path):
    files = {**FILES, "exercises/ex/exercise.yml": FILES["exercises/ex/exercise.yml"]
             + "  check: {run: image}\n"}
    root = write_project(tmp_path / "p", files, CONFIG)
    _, exercises, rt = compile_project(root)
    with pytest.raises(Ac295Error, match="no step ex:nosuch"):
        repro.check(rt, KINDS, exercises, "ex:nosuch", print)
    with pytest.raises(Ac295Error, match="makes no image"):
        repro.check(rt, KINDS, exercises, "ex:check", print)


def test_under_buildah_an_image_the_registry_lost_is_made_again(tmp_path, monkeypatch):
    rt = with_builder(runtime(tmp_path, [{"Id": "sha256:app", "RepoTags": ["me/app:1"]}])[0],
                      "buildah")
    record(rt, "ex:image", content_digest=DIGEST)
    notes(rt, "ex:image", inputs_digest=DIGEST, image_id="sha256:app",
          registry="127.0.0.1:5000/me/app:in-0123456789ab", registry_digest=REGISTRY_DIGEST)
    served: dict[str, str] = {"127.0.0.1:5000/me/app:in-0123456789ab": REGISTRY_DIGEST}
    monkeypatch.setattr(Runtime, "served_digest", lambda self, ref: served.get(ref))
    assert reuse.made_image_uptodate(rt, "ex:image", "me/app:1", DIGEST).fresh
    served.clear()
    verdict = reuse.made_image_uptodate(rt, "ex:image", "me/app:1", DIGEST)
    assert not verdict.fresh and "the registry no longer serves it" in verdict.reason


def test_the_docker_builder_hands_its_engine_what_a_failure_keeps(monkeypatch, tmp_path):
    """A failed build keeps its last layer and a failed commit its container (docs/failures.md):
    the docker builder must pass the step's ``keep`` (and the Dockerfile messages name) on."""
    from tasks.engine import builders

    seen: dict[str, dict] = {}
    monkeypatch.setattr(builders.images, "build",
                        lambda *args, **kwargs: seen.setdefault("build", kwargs) and "id1")
    monkeypatch.setattr(builders.containers, "commit",
                        lambda *args, **kwargs: seen.setdefault("commit", kwargs) and "id2")
    keep, shown = object(), tmp_path / "exercise" / "Dockerfile"
    docker = builders.Docker(engine=None, epoch=0)  # type: ignore[arg-type]
    docker.build(builders.BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile",
                                       tag="t:1", args={}, labels={}, task="ex:image",
                                       keep=keep, shown=shown),  # type: ignore[arg-type]
                 lambda line: None)
    docker.commit(builders.CommitRequest(source_id="c", source="", commands=("true",), tag="t:2",
                                         timeout=5, container_labels={}, labels={},
                                         task="ex:commit", fix="", keep=keep),  # type: ignore
                  lambda line: None)
    assert seen["build"]["keep"] is keep and seen["build"]["shown"] == shown
    assert seen["commit"]["keep"] is keep
