"""A step kind of the test's own: one new module and one registration line, nothing else.

The kind ``id_file`` writes an image step's image id to a file. The test adds its module to a
copy of the project, registers it with one line, and runs it with `script/doit` on the real
engine next to a tiny imported image: the graph links it to the image step, a second run does
nothing, and editing the kind's key reruns it; `doit graph` draws it in its own shape, the
lock keeps its facts, and the schema made again by the documented command validates it.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from clones import Project, copy_project, free_port
from tasks.kinds import KINDS

pytestmark = pytest.mark.integration

KIND_MODULE = '''
"""``id_file:``: write an image step's image id to a file (a test's own kind)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..dsl.model import LocalRef, Step
from .actions import Check, action, fresh, recorded, stale
from .base import Key, Kind, Makes, TaskContext
from .reuse import image_facts


@dataclass(frozen=True, kw_only=True)
class IdFileStep(Step):
    kind: ClassVar[str] = "id_file"
    image: str
    to: Path


def uptodate(rt, step):
    _, image_id = image_facts(rt, f"{step.exercise}:{step.image}", step.task)
    if not step.to.is_file() or step.to.read_text() != image_id:
        return stale(f"{step.to.name} does not hold the image id")
    return fresh(f"{step.to.name} holds the image id")


def run(rt, step):
    with recorded(rt.record_path(step.task), step.task) as recording:
        _, image_id = image_facts(rt, f"{step.exercise}:{step.image}", step.task)
        step.to.write_text(image_id)
        recording.data = {"written": step.to.name}
        recording.local = {"image_id": image_id}


class IdFile(Kind[IdFileStep]):
    name = "id_file"
    shape = "septagon"
    lock_fields = ("written",)
    keyword = Key("id_file", "string", "the image step whose id is written", required=True)
    keys = (Key("to", "string", "the file to write", required=True),)

    def parse(self, f, common, folder):
        return IdFileStep(**common, image=f.required("id_file"),
                          to=f.path("to", f.required("to"), folder))

    def local_refs(self, step):
        return [LocalRef("id_file", step.image, "image")]

    def makes(self, step, exercise):
        return Makes(files=(step.to,))

    def task(self, step, ctx):
        return {"actions": [action(run, ctx.rt, step)],
                "uptodate": [Check("the id file", uptodate, ctx.rt, step)]}
'''

EXERCISE = """\
doc: A tiny imported image and its id in a file
steps:
  rootfs:
    sh: python3 make_tar.py {state}/tiny.tar
    deps: [make_tar.py]
    targets: ["{state}/tiny.tar"]
  image:
    import: "{state}/tiny.tar"
    tag: "{local_prefix}tiny:1"
  id:
    id_file: image
    to: "{state}/image-id.txt"
"""

MAKE_TAR = """\
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as tar:
    data = b"hello\\n"
    info = tarfile.TarInfo("hello.txt")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
"""


LOCK_FACTS = """\
import json, sys
from pathlib import Path
from tasks import project, toplevel
from tasks.kinds import KINDS
from tasks.kinds.runtime import Runtime
from tasks.dsl import config
cfg = config.load(Path.cwd())
facts = toplevel.current(Runtime(cfg), KINDS, toplevel.locked_steps(KINDS, [
    e for e in project.load_exercises(cfg) if e.name == "idx"]))
sys.stdout.write(json.dumps(facts))
"""


def test_the_builtin_kinds_are_one_module_each():
    import tasks.kinds as package

    modules = {p.stem for p in Path(package.__file__).parent.glob("*.py")}
    for kind in KINDS:
        assert kind.__class__.__module__.rsplit(".", 1)[1] in modules
    assert {k.name for k in KINDS} == {"venv", "wheelhouse", "build", "import", "pull",
                                          "commit", "run", "service", "push", "network", "sh",
                                          "save", "kernel", "vm", "measure", "grade",
                                          "grade-student", "volume", "compose"}


def test_a_new_kind_is_one_module_and_one_line(tmp_path, engine):
    root = copy_project(tmp_path / "ac295")  # its own tasks/, the repository's .venv
    (root / "tasks/kinds/id_file.py").write_text(KIND_MODULE)
    init = root / "tasks/kinds/__init__.py"
    init.write_text(init.read_text() + "\nfrom .id_file import IdFile  # noqa: E402\n"
                    "KINDS.register(IdFile())\n")
    folder = root / "exercises/idx"
    folder.mkdir()
    (folder / "exercise.yml").write_text(EXERCISE)
    (folder / "make_tar.py").write_text(MAKE_TAR)
    prefix = f"kind{free_port()}-"
    env = {"AC295_LOCAL_PREFIX": prefix, "AC295_REGISTRY": f"127.0.0.1:{free_port()}"}
    project = Project(root, {**{k: v for k, v in os.environ.items()
                                if not k.startswith("AC295_")}, **env}, env["AC295_REGISTRY"],
                      "kind", prefix)
    try:
        first = project.doit("idx")
        assert first.executed == ["idx:rootfs", "idx:image", "idx:id"]
        image_id = engine.images.get(f"{prefix}tiny:1").id
        assert (root / ".ac295/image-id.txt").read_text() == image_id
        assert project.doit("idx").executed == []  # a null build
        info = project.doit("info", "idx:id", check=False)  # the graph linked it to image
        assert str(root / ".ac295/records/idx/image.json") in info.stdout
        (root / ".ac295/image-id.txt").write_text("something else")
        assert project.doit("idx").executed == ["idx:id"]  # its check saw it

        # the picture: its node, in the shape the kind declares, fed by the image step
        project.doit("graph", "-o", str(tmp_path / "pic"), "idx")
        dot = (tmp_path / "pic.dot").read_text()
        assert '"idx:id" [label="id id_file", shape=septagon' in dot
        assert '"idx:image" -> "idx:id" [style=solid]' in dot
        assert (tmp_path / "pic.png").stat().st_size > 0

        # the lock: what the kind declares it keeps, read from its record
        facts = subprocess.run(
            [str(root / ".venv/bin/python"), "-c", LOCK_FACTS], cwd=root, env=project.env,
            capture_output=True, text=True, check=True).stdout
        facts = json.loads(facts)
        assert sorted(facts) == ["idx:id", "idx:image", "idx:rootfs"]
        assert facts["idx:id"] == {"written": "image-id.txt"}

        # the schema, made again by the documented command, accepts the new key and no typo
        subprocess.run([str(root / ".venv/bin/python"), "-m", "tasks.kinds.reference"],
                       cwd=root, check=True, capture_output=True)
        validator = jsonschema.Draft202012Validator(
            json.loads((root / "docs/exercise.schema.json").read_text()))
        spec = yaml.safe_load(EXERCISE)
        assert not list(validator.iter_errors(spec))
        spec["steps"]["id"]["too"] = spec["steps"]["id"].pop("to")
        assert list(validator.iter_errors(spec))
    finally:
        for image in engine.images.list(name=f"{prefix}tiny"):
            engine.images.remove(image.id, force=True)
