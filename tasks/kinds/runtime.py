"""What actions and checks share in one doit process: the config, the engine, the registry."""
from __future__ import annotations

import os

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import builder_choice, builders, registry
from ..engine.client import Engine
from ..engine.content import LayerCache
from ..engine.localregistry import LocalRegistry
from ..errors import ClusterError, RegistryError
from . import records
from ..dsl.config import Config


@dataclass
class Runtime:
    """The config, one engine view and the registry service, passed to every action and check.

    Args:
        config: the resolved project config.
        engine: the engine view (a fake one in unit tests).
    """

    config: Config
    engine: Engine = field(default_factory=Engine)
    _layers: LayerCache | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.engine.project = str(self.config.state)

    def __getstate__(self) -> dict[str, Any]:
        """A copy for another process leaves the layer cache behind (it reads its own)."""
        return {"config": self.config, "engine": self.engine, "_layers": None}

    @property
    def layer_cache(self) -> LayerCache:
        """Tree digests of image layers already read, kept under the state folder."""
        if self._layers is None:
            self._layers = LayerCache(self.config.state / "cache" / "layers.json")
        return self._layers

    @property
    def builder(self) -> builders.Builder:
        """The builder the ``builder`` variable names (docker or buildah); cheap to make."""
        return builder_choice.choose(self.config.builder, self.engine, self.config.state,
                                     self.config.registry, self.config.source_date_epoch)

    @property
    def local_registry(self) -> LocalRegistry | None:
        """The registry this project runs itself, or None for an external one."""
        port = self.config.local_registry_port
        if port is None:
            return None
        return LocalRegistry(root=self.config.state / "registry", port=port)

    @property
    def swarm(self) -> Any:
        """The Swarm this run's containers go to (``cluster: swarm``), or None (the local
        engine). A real Swarm is named by ``cluster_manager`` (its DOCKER_HOST; with
        ``$DOCKER_CERT_PATH``, asked with the client certificate there) and
        ``cluster_registry`` (a registry both this machine and the nodes reach); without
        them, the cluster ``script/cluster up`` made here.

        Raises:
            ClusterError: cluster mode, but no cluster.
        """
        mode = self.config.variables.get("cluster", "")
        if not mode:
            return None
        from ..cluster.nodes import current, elsewhere

        if mode != "swarm":
            raise ClusterError(f"unknown cluster '{mode}': 'swarm', or nothing for the local "
                               "engine.")
        manager = self.config.variables.get("cluster_manager", "")
        if manager:
            shared = self.config.variables.get("cluster_registry", "")
            if not shared:
                raise ClusterError("'cluster_manager' is set but not 'cluster_registry': the "
                                   "registry this machine pushes to and the nodes pull from.")
            return elsewhere(manager, shared, os.environ.get("DOCKER_CERT_PATH", ""))
        found = current(self.engine)
        if found is None:
            raise ClusterError("cluster mode (cluster: swarm), but no cluster runs here: make "
                               "one with `script/cluster up 3`, or set cluster_manager and "
                               "cluster_registry to a real Swarm's.")
        return found

    def record_path(self, task: str) -> Path:
        """The record file of task ``exercise:step``."""
        return records.path_in(self.config.state, task)

    def served_digest(self, ref: str) -> str | None:
        """The digest a registry serves for ``ref``; the local one is read from disk if stopped.

        Raises:
            RegistryError: the registry does not answer or refuses; a reference that names no
                registry (so Docker Hub) is said to be one, with the fix.
        """
        parsed = registry.Reference.parse(ref)
        local = self.local_registry
        if local is not None and parsed.registry == self.config.registry:
            return local.served_digest(parsed)
        try:
            return registry.manifest_digest(parsed)
        except RegistryError as err:
            if parsed.hub and not ref.startswith(("docker.io/", "index.docker.io/")):
                raise RegistryError(
                    f"{ref} names no registry, so Docker would push it to (and pull it from) "
                    f"Docker Hub, which does not answer from here ({err}). Put the registry in "
                    f"the tag: {self.config.registry}/{ref}, or {{registry}}/... in the step."
                    ) from None
            raise
