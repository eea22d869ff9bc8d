"""``volume:``: a named volume for this run's containers, made empty and removed when it ends.

A volume is part of the live system, like a network: services and one-shot runs mount it
(``volumes: ["<step>:/path"]``), it is created fresh when the run starts and removed when
the run ends (after the containers that use it; also after a failure or Ctrl-C), as
``docker-compose down -v`` leaves nothing. Data that must outlast a run belongs in an image
or in a file a step makes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..engine import services
from ..errors import ClusterError
from ..dsl.fields import Fields, local_name
from ..dsl.model import Role, Step
from .actions import action
from ..progress import progress
from .base import Key, Kind, Session, ShellRequest, TaskContext
from .runtime import Runtime
from .shells import instead, users_of


@dataclass(frozen=True, kw_only=True)
class VolumeStep(Step):
    """A named volume, created empty and removed when doit's run ends."""

    kind: ClassVar[str] = "volume"
    volume: str  # the engine's name for it


def create(rt: Runtime, step: VolumeStep) -> None:
    """Create the volume fresh (a leftover of a killed run is removed first)."""
    if rt.swarm is not None:
        raise ClusterError(f"{step.task}: named volumes are not supported on the cluster (a "
                           "volume lives on one node). Run this exercise without cluster mode.")
    services.create_volume(rt.engine, step.volume, step.task, progress)


def remove(rt: Runtime, step: VolumeStep) -> None:
    """Remove the volume at the end of doit's run, after the containers that use it."""
    services.remove_volume(rt.engine, step.volume, step.task, progress)


class Volume(Kind[VolumeStep]):
    name = "volume"
    shape = "cylinder"
    keyword = Key("volume", "string", "the volume's name in the engine (local_prefix is put "
                  "first)", required=True)
    provides: ClassVar[frozenset[Role]] = frozenset({"volume"})
    role_words = {"volume": "named volume"}
    summary = "a named volume for this run's containers (docker volume create)"

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> VolumeStep:
        return VolumeStep(**common, volume=local_name(f.required("volume"), f.variables))

    def ephemeral(self, step: VolumeStep) -> str:
        return "a volume lives only as long as the run that uses it"

    def task(self, step: VolumeStep, ctx: TaskContext) -> dict[str, Any]:
        return {"actions": [action(create, ctx.rt, step)],
                "meta": {"ac295_end": [action(remove, ctx.rt, step)]}}

    def shell(self, step: VolumeStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return instead(step.task, f"is the volume {step.volume}",
                       users_of(ctx.exercise, step.name, "volume"), "a step that mounts it")
