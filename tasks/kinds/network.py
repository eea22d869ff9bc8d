"""``network:``: a user-defined bridge network for this run's services, removed when it ends."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..engine import services
from ..dsl.fields import Fields, local_name
from ..errors import SpecError
from ..dsl.model import Role, Step
from .actions import action
from ..progress import progress
from .base import Key, Kind, Session, ShellRequest, TaskContext
from .shells import instead, users_of
from .runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class NetworkStep(Step):
    """A user-defined bridge network, created fresh and removed when doit's run ends."""

    kind: ClassVar[str] = "network"
    network: str  # the engine's name for it


def create(rt: Runtime, step: NetworkStep) -> None:
    """Create the network fresh (an overlay network on the Swarm in cluster mode)."""
    swarm = rt.swarm
    if swarm is not None:
        from ..cluster import services as cluster_services

        cluster_services.create_network(swarm, step.network, rt.engine.labels(step.task),
                                        progress)
    else:
        services.create_network(rt.engine, step.network, step.task, progress)


def remove(rt: Runtime, step: NetworkStep) -> None:
    """Remove the network at the end of doit's run, after its services."""
    swarm = rt.swarm
    if swarm is not None:
        from ..cluster import services as cluster_services

        cluster_services.remove_network(swarm, step.network, progress)
    else:
        services.remove_network(rt.engine, step.network, step.task, progress)


class Network(Kind[NetworkStep]):
    name = "network"
    shape = "hexagon"
    keyword = Key("network", "string", "the network's name in the engine (local_prefix is put "
                  "first)", required=True)
    provides: ClassVar[frozenset[Role]] = frozenset({"network"})
    summary = "a bridge network for this run's services (docker network create)"

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> NetworkStep:
        name = f.required("network")
        if not name.strip():
            raise SpecError(f.where("network"), "a network needs a name.")
        return NetworkStep(**common, network=local_name(name, f.variables))

    def ephemeral(self, step: NetworkStep) -> str:
        return "a network lives only as long as the run that uses it"

    def task(self, step: NetworkStep, ctx: TaskContext) -> dict[str, Any]:
        return {"actions": [action(create, ctx.rt, step)],
                "meta": {"ac295_end": [action(remove, ctx.rt, step)]}}

    def shell(self, step: NetworkStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return instead(step.task, f"is the network {step.network}",
                       users_of(ctx.exercise, step.name, "network"), "a step on it")
