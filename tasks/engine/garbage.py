"""What this project copy left in the engine and no longer needs: images of old inputs,
stopped containers, stale networks and volumes, the states failed steps kept.

Every input change leaves an image behind (and its content tag): a revert is then instant,
but the disk fills. Only what carries this copy's labels is ever a candidate: images whose
``org.ac295.made`` label names this copy's state folder, containers, networks and volumes whose
``org.ac295.project`` label does. Of the images each step made, the ones still named by the
records, notes or lock are kept, and so are the ``keep`` newest others.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from . import evidence, shells
from .boundary import translated
from .client import LABEL_PROJECT, LABEL_TASK, Engine, ImageInfo
from ..progress import Progress


@dataclass(frozen=True)
class Garbage:
    """One thing to remove: what it is, how the engine names it, its size, whose it was."""

    kind: str  # "image", "container", "network" or "volume"
    ident: str
    name: str
    size: int
    task: str

    def describe(self) -> str:
        size = f", {human(self.size)}" if self.kind == "image" else ""
        return f"{self.kind} {self.name} ({self.ident[:19]}{size}; {self.task})"


def human(size: float) -> str:
    """A size in bytes as a person reads it: 512 B, 3.1 kB, 148.9 MB."""
    for unit in ("B", "kB", "MB"):
        if size < 1000 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


@translated
def unused_images(engine: Engine, needed_inputs: set[str], needed_ids: set[str],
                  keep: int) -> list[Garbage]:
    """Images this copy made that nothing needs, beyond the ``keep`` newest of each step."""
    by_task: dict[str, list[ImageInfo]] = {}
    for info in engine.images().values():
        made = info.made
        if made is not None and made[2] == engine.project:
            by_task.setdefault(made[1], []).append(info)
    found = []
    for task, made_by_task in sorted(by_task.items()):
        spare = [i for i in sorted(made_by_task, key=lambda i: i.created, reverse=True)
                 if i.id not in needed_ids and (i.made or ("",))[0] not in needed_inputs]
        for info in spare[keep:]:
            name = next((t for t in info.tags if ":in-" not in t), (info.tags or ["<none>"])[0])
            found.append(Garbage("image", info.id, name, own_size(engine, info), task))
    return found


def own_size(engine: Engine, info: ImageInfo) -> int:
    """The bytes an image holds beyond the image it was built FROM (what removing it frees):
    its size less the size of its newest named ancestor. Unnamed ancestors are the builder's
    intermediate images of its own steps, which go with it."""
    for entry in engine.client.api.history(info.id)[1:]:
        if entry.get("Id") and entry["Id"] != "<missing>":
            parent = engine.info(entry["Id"])
            if parent is not None and parent.tags:
                return max(info.size - parent.size, 0)
    return info.size


@translated
def leftover_containers(engine: Engine) -> list[Garbage]:
    """Containers of this copy still in the engine (a run removes its own; these were left),
    but not those of a ``doit shell`` that is still open."""
    found = engine.client.containers.list(
        all=True, filters={"label": f"{LABEL_PROJECT}={engine.project}"})
    return [Garbage("container", c.id, c.name, 0, c.labels.get(LABEL_TASK, "?")) for c in found
            if not shells.alive(c.labels)]


@translated
def stale_networks(engine: Engine) -> list[Garbage]:
    """Networks of this copy still in the engine (but not an open shell's)."""
    found = engine.client.networks.list(filters={"label": f"{LABEL_PROJECT}={engine.project}"})
    return [Garbage("network", n.id, n.name, 0, (n.attrs.get("Labels") or {}).get(LABEL_TASK, "?"))
            for n in found if not shells.alive(n.attrs.get("Labels"))]


@translated
def kept_evidence(engine: Engine) -> list[Garbage]:
    """The states failed steps of this copy kept (``tasks.engine.evidence``), each with the
    bytes it holds beyond the image it was made from."""
    found = []
    for kept in evidence.listed(engine):
        info = ImageInfo(kept.id, [kept.name] if kept.name else [], [], {}, kept.created)
        info.size = (engine.info(kept.id) or info).size
        found.append(Garbage("image", kept.id, kept.name or "<none>", own_size(engine, info),
                             kept.task))
    return found


@translated
def stale_volumes(engine: Engine) -> list[Garbage]:
    """Named volumes of this copy still in the engine (a killed run's)."""
    found = engine.client.volumes.list(filters={"label": f"{LABEL_PROJECT}={engine.project}"})
    return [Garbage("volume", v.name, v.name, 0,
                    (v.attrs.get("Labels") or {}).get(LABEL_TASK, "?")) for v in found
            if not shells.alive(v.attrs.get("Labels"))]  # an open shell's stays


@translated
def remove(engine: Engine, garbage: Iterable[Garbage], progress: Progress) -> int:
    """Remove the things; return the bytes of images removed. Containers go first, then
    networks and volumes, then images, newest first (a child before its parent)."""
    import docker.errors

    freed = 0
    order = {"container": 0, "network": 1, "volume": 1, "image": 2}
    for item in sorted(garbage, key=lambda g: order[g.kind]):
        try:
            if item.kind == "container":
                engine.client.api.remove_container(item.ident, force=True)
            elif item.kind == "network":
                engine.client.api.remove_network(item.ident)
            elif item.kind == "volume":
                engine.client.api.remove_volume(item.ident, force=True)
            else:
                engine.client.api.remove_image(item.ident, force=True, noprune=False)
                freed += item.size
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as err:  # an image another image is built FROM
            progress(f"kept {item.describe()}: {err.explanation or err}")
            continue
        progress(f"removed {item.describe()}")
    engine.forget_images()
    return freed
