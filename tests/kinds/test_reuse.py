"""``reuse: no`` reaches every image lookup: with it, an image step makes its image anew (no
image of the engine, no content tag of the registry, no build cache); without it, an image
made from the same inputs is taken from the engine, else from the registry."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import DIGEST, WHERE, fake_client
from tasks.engine.builders import Made
from tasks.dsl.config import Config
from tasks.engine.client import Engine
from tasks.kinds import build, reuse
from tasks.kinds.actions import Action, Recording
from tasks.kinds.build import BuildStep
from tasks.kinds.runtime import Runtime

TAG = "127.0.0.1:5000/me/app:1"


def runtime_with(tmp_path: Path, reuse_value: str, listing=None) -> tuple[Runtime, object]:
    client = fake_client(listing)
    cfg = Config(root=tmp_path, state=tmp_path / "state",
                 variables={"registry": "127.0.0.1:5000", "reuse": reuse_value})
    return Runtime(cfg, engine=Engine(factory=lambda: client)), client.api


class Lookups:
    """Every way make_image could find an image instead of making it, recorded."""

    def __init__(self, monkeypatch, rt: Runtime, in_engine: str | None,
                 in_registry: str | None) -> None:
        self.asked: list[str] = []
        self.made = 0

        class Found:
            id = in_engine

        def find_made(digest, task, hint=""):
            self.asked.append(f"engine {digest} {task} {hint}")
            return Found() if in_engine else None

        def pull_by_content(rt, tag, digest):
            self.asked.append(f"registry {tag} {digest}")
            return in_registry

        monkeypatch.setattr(rt.engine, "find_made", find_made)
        monkeypatch.setattr(reuse, "pull_by_content", pull_by_content)
        monkeypatch.setattr(reuse.images, "tag", lambda engine, image_id, ref: None)
        monkeypatch.setattr(reuse, "content_of", lambda rt, image_id: "sha256:content")

    def make(self) -> Made:
        self.made += 1
        return Made("sha256:made")


@pytest.mark.parametrize("value", ["no", "No", "false", "0", "off"])
def test_reuse_no_makes_the_image_without_looking_anywhere(tmp_path, monkeypatch, value):
    rt, _ = runtime_with(tmp_path, value)
    assert rt.config.reuse is False
    lookups = Lookups(monkeypatch, rt, in_engine="sha256:old", in_registry="sha256:pulled")
    image = reuse.make_image(rt, "ex:image", TAG, DIGEST, lookups.make, Recording())
    assert (image, lookups.made, lookups.asked) == ("sha256:made", 1, [])


@pytest.mark.parametrize("value", ["yes", "true", "1", "on", "YES"])
def test_reuse_yes_takes_the_engines_image_made_from_the_same_inputs(tmp_path, monkeypatch,
                                                                     value):
    rt, _ = runtime_with(tmp_path, value)
    assert rt.config.reuse is True
    lookups = Lookups(monkeypatch, rt, in_engine="sha256:old", in_registry="sha256:pulled")
    recording = Recording()
    image = reuse.make_image(rt, "ex:image", TAG, DIGEST, lookups.make, recording)
    assert (image, lookups.made) == ("sha256:old", 0)
    assert lookups.asked == [f"engine {DIGEST} ex:image 127.0.0.1:5000/me/app:in-0123456789ab"]
    assert recording.local == {"inputs_digest": DIGEST, "image_id": "sha256:old"}


def test_reuse_yes_then_the_registrys_content_tag_then_making_it(tmp_path, monkeypatch):
    rt, _ = runtime_with(tmp_path, "yes")
    lookups = Lookups(monkeypatch, rt, in_engine=None, in_registry="sha256:pulled")
    assert reuse.make_image(rt, "ex:image", TAG, DIGEST, lookups.make, Recording()) == \
        "sha256:pulled"
    assert lookups.asked[-1] == f"registry {TAG} {DIGEST}" and lookups.made == 0
    lookups = Lookups(monkeypatch, rt, in_engine=None, in_registry=None)
    assert reuse.make_image(rt, "ex:image", TAG, DIGEST, lookups.make, Recording()) == \
        "sha256:made"
    assert lookups.made == 1 and len(lookups.asked) == 2


@pytest.mark.parametrize("value, nocache", [("no", True), ("yes", False)])
def test_a_build_with_reuse_no_asks_the_engine_for_no_cache(tmp_path, monkeypatch, value,
                                                           nocache):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY a /\n")
    (context / "a").write_text("a\n")
    step = BuildStep(exercise="ex", name="image", doc="", after=(), where=WHERE,
                     context=context, dockerfile=context / "Dockerfile", tag=TAG, args={},
                     bases=())
    rt, api = runtime_with(tmp_path, value, [{"Id": "sha256:made", "RepoTags": [TAG]}])
    lookups = Lookups(monkeypatch, rt, in_engine=None, in_registry=None)
    api.build.return_value = iter([{"stream": "Successfully built made\n"},
                                   {"aux": {"ID": "sha256:made"}}])
    assert Action(build.run)(rt, step, {}) is None
    assert api.build.call_args.kwargs["nocache"] is nocache
    assert api.build.call_args.kwargs["pull"] is False
    # with reuse, the engine and then the registry were asked first
    assert [a.split()[0] for a in lookups.asked] == ([] if nocache else ["engine", "registry"])
