"""``doit repro-check TASK``: is an image step byte-reproducible with the current builder?

The step's image is made twice, as two machines would make it: from copies of its inputs
in two new folders (copied at two times, so the files' times differ as a clone's would), at
least two seconds apart, with no cache, by the builder the project uses. Then the two are
compared byte for byte (``tasks.engine.layers``): identical (the digest a registry would
serve, for buildah), or the first layer that differs and, in it, each file that differs
(path, size, mode, mtime, content hash), or the config fields that differ. Nothing it makes
stays: the copies and the two images are removed.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

from .engine import layers
from .errors import Ac295Error
from .graph.compile import made_images
from .graph.edges import Producers
from .kinds.base import Kind, KindTable, TaskContext
from .kinds.runtime import Runtime
from .dsl.model import Exercise
from .progress import progress

#: Seconds between the two builds' starts, at least (a clock in the bytes shows).
APART = 2.0
#: Files listed of the first layer that differs.
SHOWN = 20


def check(rt: Runtime, kinds: KindTable, exercises: list[Exercise], task: str,
          say: Callable[[str], None]) -> bool:
    """Make ``task``'s image twice and say whether the two are identical; True if they are.

    Raises:
        Ac295Error: no such step, not an image step, or a build failed.
    """
    exercise = next((e for e in exercises if task.split(":", 1)[0] == e.name), None)
    step = exercise.steps.get(task.split(":", 1)[1]) if exercise and ":" in task else None
    if exercise is None or step is None:
        raise Ac295Error(f"no step {task}: name an image step as exercise:step, e.g. "
                         "exercise2:image (`doit list --all` lists them).")
    kind = kinds.of(step)
    if type(kind).remake is Kind.remake:
        raise Ac295Error(f"{task} is a {step.kind} step: it makes no image. repro-check makes "
                         "build, import and commit steps again.")
    ctx = TaskContext(rt=rt, exercise=exercise,
                      image_records=made_images(rt, Producers(exercises, kinds,
                                                              rt.config.state)))
    builder = rt.builder
    local = rt.local_registry
    if builder.reproducible and local is not None:
        local.start(progress)  # buildah reads the images it builds on from the registry
    (rt.config.state / "repro").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ac295-repro-", dir=rt.config.state / "repro") \
            as tmp:
        exports = []
        started = 0.0
        for label in ("a", "b"):
            if started:
                time.sleep(max(0.0, APART - (time.monotonic() - started)))
            started = time.monotonic()
            folder = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=tmp))
            export = folder / "image"
            export.mkdir()
            progress(f"{task}: making it ({label}) with {builder.name} in {folder}")
            if kind.remake(step, ctx, folder, export) is None:
                raise Ac295Error(f"{task}: its kind made no image to compare.")
            exports.append(layers.read(export))
        found = layers.compare(exports[0], exports[1])
    for line in report(task, builder.name, found):
        say(line)
    return found.identical


def report(task: str, builder: str, found: layers.Comparison) -> list[str]:
    """What ``check`` says: one line when identical, else where the bytes differ."""
    how = f"made twice with {builder}: no cache, two folders, at least {APART:.0f} s apart"
    if found.identical:
        return [f"{task}: identical: {found.a.digest} ({how})"]
    lines = [f"{task}: NOT identical ({how}): {found.a.digest} and {found.b.digest}"]
    if found.layer:
        total = max(len(found.a.blobs), len(found.b.blobs))
        lines.append(f"  the first layer that differs: layer {found.layer} of {total}")
        if found.files:
            lines.append(f"  its files that differ ({len(found.files)}):")
        for path, one, two in found.files[:SHOWN]:
            lines.append(f"    {path}")
            lines.append(f"      a: {one.describe() if one else '(not in this layer)'}")
            lines.append(f"      b: {two.describe() if two else '(not in this layer)'}")
        if len(found.files) > SHOWN:
            lines.append(f"    ... and {len(found.files) - SHOWN} more")
    else:
        lines.append("  every layer is identical")
    if found.config:
        shown = ", ".join(found.config[:10]) + (" ..." if len(found.config) > 10 else "")
        lines.append(f"  the config differs in: {shown}")
    return lines
