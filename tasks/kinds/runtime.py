"""What actions and checks share in one doit process: the config, the engine, the registry."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..engine import registry
from ..engine.client import Engine
from ..engine.content import LayerCache
from ..engine.localregistry import LocalRegistry
from . import records
from ..spec.config import Config


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

    @property
    def layer_cache(self) -> LayerCache:
        """Tree digests of image layers already read, kept under the state folder."""
        if self._layers is None:
            self._layers = LayerCache(self.config.state / "cache" / "layers.json")
        return self._layers

    @property
    def local_registry(self) -> LocalRegistry | None:
        """The registry this project runs itself, or None for an external one."""
        port = self.config.local_registry_port
        if port is None:
            return None
        return LocalRegistry(root=self.config.state / "registry", port=port)

    def record_path(self, task: str) -> Path:
        """The record file of task ``exercise:step``."""
        return records.path_in(self.config.state, task)

    def served_digest(self, ref: str) -> str | None:
        """The digest a registry serves for ``ref``; the local one is read from disk if stopped."""
        parsed = registry.Reference.parse(ref)
        local = self.local_registry
        if local is not None and parsed.registry == self.config.registry:
            return local.served_digest(parsed)
        return registry.manifest_digest(parsed)
