"""A differential oracle, the way Bazel and ninja check themselves: random edits, each run
incrementally, each compared with a clean build of the same tree from nothing.

The project under test holds the image exercises (upstream, exercise1, exercise2) and
`layered`, which reads exercise 2's image through `COPY --from`, copies its whole context
(with a `.dockerignore`) and takes a build arg. Edits: edit a file, revert one, touch one,
delete or add a context file, change the build arg, change a `.dockerignore` rule, move the
registry to another port. After each edit the incremental run's content digests and check
outputs must equal those of a clean build (`reuse: no`: no engine or registry reuse, no build
cache) of the same tree in a fresh copy with its own state and registry. A tree seen before
is compared with the clean build already made of it.

Both builds start FROM the same base image (a debootstrap is not part of what is compared).
AC295_DIFF_STEPS sets the number of edits (the test command: 8; the full figure: 200).
"""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import time
from pathlib import Path

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


def _facts(project: Project) -> dict[str, object]:
    """What the graph made, by content: image content digests and check outputs."""
    facts: dict[str, object] = {}
    for path in sorted((project.state / "records").glob("*/*.json")):
        task = f"{path.parent.name}:{path.stem}"
        record = project.record(task) or {}
        for key in ("content_digest", "exit_code", "stdout"):
            if key in record:
                facts[f"{task} {key}"] = record[key]
    return facts


def _tree(project: Project) -> str:
    """A digest of the exercises' files: what a clean build of the same tree depends on."""
    digest = hashlib.sha256()
    for path in sorted((project.root / "exercises").rglob("*")):
        if path.is_file():
            rel = str(path.relative_to(project.root))
            text = path.read_bytes().replace(project.hub_user.encode(), b"HUB")
            digest.update(rel.encode() + b"\0" + hashlib.sha256(text).digest())
    return digest.hexdigest()


class Edits:
    """The random edits, each applied to the incremental project's tree."""

    def __init__(self, project: Project, rng: random.Random, registries: list[str]) -> None:
        self.project, self.rng, self.registries = project, rng, registries
        self.files = [project.root / "exercises" / rel for rel in (
            "exercise2/Question.py", "upstream/README.md", "upstream/Question.py",
            "layered/data.txt")]
        self.original = {f: f.read_text() for f in self.files}
        self.count = 0

    def apply(self) -> str:
        self.count += 1
        kind = self.rng.choice(["edit", "edit", "revert", "touch", "delete", "arg", "ignore",
                                "registry"])
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
            greeting = self.rng.choice(["hello", "hi", "hey"])
            text = spec.read_text()
            for word in ("hello", "hi", "hey"):
                text = text.replace(f"GREETING: {word}}}", f"GREETING: {greeting}}}")
            spec.write_text(text)
            return f"arg GREETING={greeting}"
        if kind == "ignore":
            ignore = root / "layered/.dockerignore"
            rules = ignore.read_text()
            rules = rules.replace("*.tmp\n", "") if "*.tmp" in rules else rules + "*.tmp\n"
            ignore.write_text(rules)
            return "toggle .dockerignore *.tmp"
        registry = self.rng.choice(self.registries)
        self.project.env["AC295_REGISTRY"] = registry
        return f"registry {registry}"


def test_incremental_equals_clean(tmp_path, make_registry, engine):
    steps = int(os.environ.get("AC295_DIFF_STEPS", "8"))
    seed = int(os.environ.get("AC295_DIFF_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    registries = [make_registry().host, make_registry().host]
    base = _base_image(engine, tmp_path, registries[0])
    project = clone(tmp_path, registries[0], name="incremental")
    _layout(project, base)
    project.doit(*EXERCISES)
    edits = Edits(project, rng, registries)
    clean_builds: dict[str, dict[str, object]] = {}
    equal, differences, reruns = 0, [], 0
    for n in range(steps):
        what = edits.apply()
        run = project.doit(*EXERCISES)
        reruns += len(run.executed)
        got = _facts(project)
        key = _tree(project)
        if key not in clean_builds:
            registry = make_registry()
            clean = clone(tmp_path, registry.host, name=f"clean{n}", AC295_REUSE="no")
            _layout(clean, base)
            for src in (project.root / "exercises").rglob("*"):
                if src.is_file():
                    dest = clean.root / src.relative_to(project.root)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(src.read_bytes().replace(project.hub_user.encode(),
                                                              clean.hub_user.encode()))
            clean.doit(*EXERCISES)
            clean_builds[key] = _facts(clean)
            shutil.rmtree(clean.root, ignore_errors=True)
            registry.kill()
        if got == clean_builds[key]:
            equal += 1
        else:
            want = clean_builds[key]
            keys = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
            differences.append(f"step {n} ({what}): {keys}")
    print(f"FIGURE differential (seed {seed}): {equal} of {steps} edit steps equal to a clean "
          f"build ({len(clean_builds)} clean builds, {reruns} incremental task runs)")
    assert not differences, "\n".join(differences)
