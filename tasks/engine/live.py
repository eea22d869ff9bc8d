"""Whether what a task started is still there: a live service container, its network, its
volume.

A resident process (``doit watch``) keeps services and networks up across cycles; before it
counts one as still up, it asks the engine, since a container may have exited or been
removed (``docker rm -f``) since. Things are found by the labels this project puts on them
(the task and the project copy), never by name alone.
"""
from __future__ import annotations

from .boundary import translated
from .client import LABEL_PROJECT, LABEL_TASK, Engine
from .services import LABEL_EPHEMERAL


@translated
def running(engine: Engine, task: str) -> bool:
    """True if a running container, a network or a volume that this project copy made for
    ``task`` exists in the engine."""
    wanted = [f"{LABEL_TASK}={task}", f"{LABEL_PROJECT}={engine.project}",
              f"{LABEL_EPHEMERAL}=1"]
    api = engine.client.api
    if api.containers(filters={"label": wanted, "status": "running"}, quiet=True):
        return True
    if api.networks(filters={"label": wanted}):
        return True
    return bool((api.volumes(filters={"label": wanted}) or {}).get("Volumes"))
