"""A differential oracle, the way Bazel and ninja check themselves: random edits, each run
incrementally, each compared with a clean build of the same tree made by plain Docker.

The project under test holds the image exercises (upstream, exercise1, exercise2) and
`layered`, which reads exercise 2's image through `COPY --from`, copies its whole context
(with a `.dockerignore`) and takes a build arg. Edits: edit a file, revert one, touch one,
delete or add a context file, change the build arg, change a `.dockerignore` rule, move the
registry to another port; every kind at least once in any run of at least 7 steps, in an
order drawn from the seed (printed; AC295_SEED replays it).

After each edit the incremental run's results must equal those of a clean build of the same
tree that the test makes itself with the Docker SDK's low-level calls, none of the project's
code: `docker build --no-cache` of each Dockerfile (the args as the spec writes them), the
student's commit, and each check's command run. Equality is judged on file trees read by the
test from `docker export` (tests/trees.py), on the images' run config, on each check's exit
code and output, and on the registry serving, for each pushed tag, the image the engine has
under it. A tree seen before is compared with the clean build already made of it.

Both builds start FROM the same base image (its mmdebstrap is not part of what is compared).
AC295_DIFF_STEPS sets the number of edits (the test command: 8; the full figure: 200).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import time
from pathlib import Path

import docker
import yaml

import seeds
import trees
from clones import Project, clone

EXERCISES = ("upstream", "exercise1", "exercise2", "layered")
LAYERED = """\
doc: files from exercise 2's image, the whole context, a build arg
steps:
  image:
    build: .
    tag: "{registry}/{hub_user}/layered:1"
    args: {BASE_IMAGE: "{base_image}", GREETING: hello}
  show:
    run: image
    command: [sh, -c, 'echo "$GREETING"; ls /data; head -n 3 /q.py']
  push:
    push: image
    after: [show]
"""
LAYERED_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
ARG GREETING
ENV GREETING=${{GREETING}}
COPY --from={exercise2} /app/Question.py /q.py
COPY . /data
"""


def _base_image(engine, tmp_path: Path, registry: str) -> str:
    """A base image in the engine, tagged for this test: one a step made, or made here."""
    found = [i for i in engine.images.list() if (i.labels or {}).get("org.ac295.rootfs")]
    if not found:
        maker = clone(tmp_path, registry, name="basemaker")
        maker.doit("base:image")
        found = [engine.images.get(f"{registry}/ac295/base:bookworm")]
    tag = f"ac295diffbase{os.getpid()}:1"
    found[0].tag(tag)
    return tag


def _layout(project: Project, base: str) -> None:
    """Keep the image exercises, add `layered`, and build FROM the shared base image.

    Exercise 2's image gets a local name (its push names the registry), so that `layered`
    can read it with `COPY --from` whichever registry the run uses.
    """
    for folder in (project.root / "exercises").iterdir():
        if folder.name not in EXERCISES:
            shutil.rmtree(folder)
    spec = project.root / "exercises/exercise2/exercise.yml"
    spec.write_text(spec.read_text().replace(
        'tag: "{registry}/{hub_user}/ac295_playground:exercise2"',
        'tag: "{local_prefix}ac295_playground:exercise2"').replace(
        "    push: image\n",
        '    push: image\n    tag: "{registry}/{hub_user}/ac295_playground:exercise2"\n'))
    layered = project.root / "exercises/layered"
    layered.mkdir(exist_ok=True)
    (layered / "exercise.yml").write_text(LAYERED)
    (layered / "Dockerfile").write_text(LAYERED_DOCKERFILE.format(
        exercise2=f"{project.prefix}ac295_playground:exercise2"))
    (layered / "data.txt").write_text("one\n")
    (layered / "notes.tmp").write_text("scratch\n")
    # The Dockerfile names exercise 2's image by this copy's own prefix: leave it out of /data.
    (layered / ".dockerignore").write_text("exercise.yml\nDockerfile\n")
    project.env["AC295_BASE_IMAGE"] = base


def _facts(project: Project, engine) -> dict[str, object]:
    """What the incremental run made, read by the test: the file tree and run config of the
    image each tag names (``docker export``, tests/trees.py), whether the registry serves
    that very image for each pushed tag, and the output each check recorded."""
    registry, hub, prefix = project.env["AC295_REGISTRY"], project.hub_user, project.prefix
    tags = {"upstream": f"{registry}/pavlosprotopapas/ac295_l2:latest",
            "exercise1": f"{registry}/{hub}/ac295_playground:exercise1",
            "exercise2": f"{prefix}ac295_playground:exercise2",
            "layered": f"{registry}/{hub}/layered:1"}
    pushed = {"upstream": tags["upstream"], "exercise1": tags["exercise1"],
              "exercise2": f"{registry}/{hub}/ac295_playground:exercise2",
              "layered": tags["layered"]}
    facts: dict[str, object] = {}
    for name, tag in tags.items():
        facts[f"{name} tree"] = trees.digest(trees.exported(engine, tag))
        facts[f"{name} config"] = trees.config(engine, tag)
        facts[f"{name} pushed is current"] = (trees.served_config(registry, pushed[name])
                                              == engine.api.inspect_image(tag)["Id"])
    for task in CHECKS:
        record = project.record(task) or {}
        facts[f"{task} output"] = (record.get("exit_code"), record.get("stdout"))
    return facts


#: The checks whose recorded output is compared: (what it runs in, its command).
CHECKS = {
    "exercise1:question": ("upstream", ["python3", "Question.py"]),
    "exercise1:modified": ("exercise1", ["cat", "/app/student.txt"]),
    "exercise1:unchanged": ("upstream", ["sh", "-c", "test ! -e /app/student.txt && "
                                         "echo unchanged"]),
    "exercise2:question": ("exercise2", ["python3", "/app/Question.py"]),
    "layered:show": ("layered", ["sh", "-c", 'echo "$GREETING"; ls /data; head -n 3 /q.py']),
}


class Clean:
    """A clean build of a tree by plain Docker, driven here: ``docker build --no-cache``,
    ``docker run``, ``docker commit``, as the exercises' specs say (read with PyYAML), with
    no code of the project. Names its images ``<name>:clean-<n>``; removes them at the end."""

    def __init__(self, engine, base: str, name: str) -> None:
        self.engine, self.base, self.name = engine, base, name
        self.images: list[str] = []

    def build(self, folder: Path, args: dict[str, str], what: str) -> str:
        tag = f"{self.name}-{what}:clean"
        args = {k: str(v).replace("{base_image}", self.base) for k, v in args.items()}
        for chunk in self.engine.api.build(path=str(folder), tag=tag, buildargs=args,
                                           nocache=True, rm=True, forcerm=True, pull=False,
                                           decode=True):
            assert "error" not in chunk, f"clean build of {folder}: {chunk}"
        self.images.append(tag)
        return tag

    def run(self, image: str, command: list[str]) -> tuple[int, str]:
        api = self.engine.api
        container = api.create_container(image, command=command)
        try:
            api.start(container["Id"])
            code = api.wait(container["Id"], timeout=300)["StatusCode"]
            return code, api.logs(container["Id"], stdout=True, stderr=False).decode()
        finally:
            api.remove_container(container["Id"], force=True)

    def commit(self, image: str, commands: list[str], what: str) -> str:
        api = self.engine.api
        cmd = (api.inspect_image(image)["Config"] or {}).get("Cmd")
        container = api.create_container(image, command=["/bin/sh", "-c",
                                                         "set -e\n" + "\n".join(commands)])
        try:
            api.start(container["Id"])
            assert api.wait(container["Id"], timeout=300)["StatusCode"] == 0
            # the committed image runs what its source ran (exercise 1's README)
            tag = f"{self.name}-{what}:clean"
            api.commit(container["Id"], repository=tag.split(":")[0], tag="clean",
                       changes=[f"CMD {json.dumps(cmd)}"])
        finally:
            api.remove_container(container["Id"], force=True)
        self.images.append(tag)
        return tag

    def facts(self, root: Path, student: str) -> dict[str, object]:
        """The same facts as ``_facts``, of the tree at ``root``."""
        specs = {name: yaml.safe_load((root / "exercises" / name / "exercise.yml").read_text())
                 for name in EXERCISES}
        args = {name: specs[name]["steps"]["image"].get("args") or {}
                for name in ("upstream", "exercise2", "layered")}
        made = {"upstream": self.build(root / "exercises/upstream", args["upstream"],
                                       "upstream")}
        commands = [c.replace("{student}", student)
                    for c in specs["exercise1"]["steps"]["modify"]["commands"]]
        made["exercise1"] = self.commit(made["upstream"], commands, "exercise1")
        made["exercise2"] = self.build(root / "exercises/exercise2", args["exercise2"],
                                       "exercise2")
        layered = root / "exercises/layered"
        dockerfile = layered / "Dockerfile"  # it reads exercise 2's image: this build's
        text = dockerfile.read_text()
        dockerfile.write_text(re.sub(r"--from=\S+", f"--from={made['exercise2']}", text))
        try:
            made["layered"] = self.build(layered, args["layered"], "layered")
        finally:
            dockerfile.write_text(text)
        facts: dict[str, object] = {}
        for name, tag in made.items():
            facts[f"{name} tree"] = trees.digest(trees.exported(self.engine, tag))
            facts[f"{name} config"] = trees.config(self.engine, tag)
            facts[f"{name} pushed is current"] = True
        for task, (image, command) in CHECKS.items():
            facts[f"{task} output"] = self.run(made[image], command)
        return facts

    def remove(self) -> None:
        for tag in reversed(self.images):
            try:
                self.engine.api.remove_image(tag, force=True)
            except docker.errors.APIError:
                pass


def _tree(project: Project) -> str:
    """A digest of the exercises' files: what a clean build of the same tree depends on."""
    digest = hashlib.sha256()
    for path in sorted((project.root / "exercises").rglob("*")):
        if path.is_file():
            rel = str(path.relative_to(project.root))
            text = path.read_bytes().replace(project.hub_user.encode(), b"HUB")
            digest.update(rel.encode() + b"\0" + hashlib.sha256(text).digest())
    return digest.hexdigest()


#: Every kind of edit; each default run makes each at least once (tests/seeds.py).
EDIT_KINDS = ("edit", "revert", "touch", "delete", "arg", "ignore", "registry")


class Edits:
    """The edits, each applied to the incremental project's tree."""

    def __init__(self, project: Project, rng: random.Random, registries: list[str]) -> None:
        self.project, self.rng, self.registries = project, rng, registries
        self.files = [project.root / "exercises" / rel for rel in (
            "exercise2/Question.py", "upstream/README.md", "upstream/Question.py",
            "layered/data.txt")]
        self.original = {f: f.read_text() for f in self.files}
        self.count = 0

    def apply(self, kind: str) -> str:
        self.count += 1
        root = self.project.root / "exercises"
        if kind == "edit":
            path = self.rng.choice(self.files)
            path.write_text(path.read_text() + f"\n# edit {self.count}\n")
            return f"edit {path.name}"
        if kind == "revert":
            path = self.rng.choice(self.files)
            path.write_text(self.original[path])
            return f"revert {path.name}"
        if kind == "touch":
            path = self.rng.choice(self.files)
            now = time.time()
            os.utime(path, (now, now))
            return f"touch {path.name}"
        if kind == "delete":
            extra = root / "layered/extra.txt"
            if extra.exists():
                extra.unlink()
                return "delete extra.txt"
            extra.write_text(f"extra {self.count}\n")
            return "add extra.txt"
        if kind == "arg":
            spec = root / "layered/exercise.yml"
            text = spec.read_text()
            now = re.search(r"GREETING: (\w+)\}", text).group(1)
            greeting = self.rng.choice([w for w in ("hello", "hi", "hey") if w != now])
            spec.write_text(text.replace(f"GREETING: {now}}}", f"GREETING: {greeting}}}"))
            return f"arg GREETING={greeting}"
        if kind == "ignore":
            ignore = root / "layered/.dockerignore"
            rules = ignore.read_text()
            rules = rules.replace("*.tmp\n", "") if "*.tmp" in rules else rules + "*.tmp\n"
            ignore.write_text(rules)
            return "toggle .dockerignore *.tmp"
        assert kind == "registry", kind
        current = self.project.env["AC295_REGISTRY"]
        registry = self.rng.choice([r for r in self.registries if r != current])
        self.project.env["AC295_REGISTRY"] = registry
        return f"registry {registry}"


def test_incremental_equals_clean(tmp_path, make_registry, engine):
    steps = int(os.environ.get("AC295_DIFF_STEPS", "8"))
    seed = seeds.seed("test_incremental_equals_clean")
    rng = random.Random(seed)
    registries = [make_registry().host, make_registry().host]
    base = _base_image(engine, tmp_path, registries[0])
    project = clone(tmp_path, registries[0], name="incremental")
    _layout(project, base)
    project.doit(*EXERCISES)
    student = yaml.safe_load((project.root / "ac295.yml").read_text())["variables"]["student"]
    edits = Edits(project, rng, registries)
    clean_builds: dict[str, dict[str, object]] = {}
    equal, differences, reruns = 0, [], 0
    kinds = seeds.schedule(EDIT_KINDS, steps, rng)
    steps = len(kinds)  # every kind at least once
    for n, kind in enumerate(kinds):
        what = edits.apply(kind)
        run = project.doit(*EXERCISES)
        reruns += len(run.executed)
        got = _facts(project, engine)
        key = _tree(project)
        if key not in clean_builds:
            copy = tmp_path / f"clean{n}"
            shutil.copytree(project.root / "exercises", copy / "exercises", symlinks=True)
            clean = Clean(engine, base, f"{project.prefix}clean{n}")
            try:
                clean_builds[key] = clean.facts(copy, student)
            finally:
                clean.remove()
                shutil.rmtree(copy, ignore_errors=True)
        if got == clean_builds[key]:
            equal += 1
        else:
            want = clean_builds[key]
            keys = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
            differences.append(f"step {n} ({what}): " + "; ".join(
                f"{k}: incremental {got.get(k)!r} != clean {want.get(k)!r}" for k in keys))
    print(f"FIGURE differential (seed {seed}): {equal} of {steps} edit steps equal to a clean "
          f"build by plain docker ({len(clean_builds)} clean builds, {reruns} incremental "
          "task runs)")
    assert not differences, f"seed {seed}:\n" + "\n".join(differences)
