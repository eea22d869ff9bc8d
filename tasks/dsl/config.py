"""The project config (``ac295.yml``): variables that exercise specs use as ``{name}``.

Precedence, highest first: doit's command line (``doit exercise2 hub_user=maggie``), the
environment (``AC295_HUB_USER=maggie``), the config file. ``{state}`` (the absolute state
folder) and ``{root}`` (the project folder) are built in. Values may refer to other variables
(``base_image: "{registry}/ac295/base:bookworm"``); references are resolved once, here.
Secrets never belong here: registry credentials come from the Docker config.
"""
from __future__ import annotations

import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from . import yamlsrc
from ..errors import SpecError, Where, did_you_mean

CONFIG_FILE = "ac295.yml"
ENV_PREFIX = "AC295_"
BUILTINS = ("state", "root")
_TOP_KEYS = ("state_dir", "variables")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
#: The values of the ``builder`` variable (tasks.engine.builders).
BUILDERS = ("docker", "buildah")


@dataclass(frozen=True)
class Config:
    """Resolved project configuration.

    Attributes:
        root: the project folder (where dodo.py and ac295.yml are).
        state: the folder for records, the doit database, the local registry's storage, caches.
        variables: every variable, fully expanded, built-ins included.
    """

    root: Path
    state: Path
    variables: Mapping[str, str]

    @property
    def registry(self) -> str:
        """The registry host[:port] that pushes and pulls use."""
        return self.variables["registry"]

    @property
    def reuse(self) -> bool:
        """False when ``reuse: no``: make every image anew (no engine or registry reuse, no
        build cache), as a clean build from nothing does."""
        return self.variables.get("reuse", "yes").lower() not in ("no", "false", "0", "off")

    @property
    def builder(self) -> str:
        """``docker`` (the default: the engine's builder) or ``buildah`` (byte-reproducible
        images, handed to the engine through the registry); see tasks.engine.builders."""
        return self.variables.get("builder", "docker") or "docker"

    @property
    def source_date_epoch(self) -> int:
        """SOURCE_DATE_EPOCH: the one time reproducible images and tarballs hold."""
        return int(self.variables.get("source_date_epoch", "0") or 0)

    @property
    def local_registry_port(self) -> int | None:
        """The port of the registry this project runs itself, or None for an external registry.

        A loopback registry is run by the project unless ``registry_service: external`` says
        that someone else runs it (CI's service, or one shared by several clones).
        """
        host, _, port = self.registry.partition(":")
        if host not in LOOPBACK_HOSTS or self.variables.get("registry_service") == "external":
            return None
        return int(port) if port.isdigit() else 5000


def load(root: Path, environ: Mapping[str, str] | None = None,
         cmdline: Callable[[str], str | None] | None = None) -> Config:
    """Read ``root/ac295.yml`` and apply the overrides.

    Raises:
        SpecError: unknown key, wrong type, unknown or circular variable reference.
    """
    environ = os.environ if environ is None else environ
    path = root / CONFIG_FILE
    data = yamlsrc.load(path) if path.exists() else yamlsrc.LDict()
    if not isinstance(data, yamlsrc.LDict):
        raise SpecError(Where(path, 1), "the config must be a mapping of keys to values.")
    for key in data:
        if key not in _TOP_KEYS:
            raise SpecError(Where(path, data.line_of(key), key), f"unknown key '{key}'.",
                            did_you_mean(key, _TOP_KEYS))
    raw = data.get("variables") or yamlsrc.LDict()
    if not isinstance(raw, yamlsrc.LDict):
        raise SpecError(Where(path, data.line_of("variables"), "variables"),
                        "must be a mapping of variable names to strings.")
    lines = {k: raw.line_of(k) for k in raw}
    values: dict[str, str] = {}
    for name, value in raw.items():
        if name in BUILTINS:
            raise SpecError(Where(path, lines.get(name, 0), f"variables.{name}"),
                            f"'{name}' is built in and cannot be set.")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise SpecError(Where(path, lines.get(name, 0), f"variables.{name}"),
                            f"must be a string, not {type(value).__name__}.")
        values[name] = str(value)
        env_value = environ.get(ENV_PREFIX + name.upper())
        if env_value is not None:
            values[name] = env_value
        cmd_value = cmdline(name) if cmdline else None
        if cmd_value is not None:
            values[name] = str(cmd_value)
    state_raw = environ.get(ENV_PREFIX + "STATE_DIR") or str(data.get("state_dir") or ".ac295")
    state = (root / state_raw).resolve()
    values.update(state=str(state), root=str(root.resolve()))
    resolved = _resolve_all(values, path, lines)
    if "registry" not in resolved:
        raise SpecError(Where(path, data.line, "variables.registry"),
                        "the variable 'registry' must be set (for instance 127.0.0.1:5000).")
    _check_registry(resolved["registry"], Where(path, lines.get("registry", 0),
                                                "variables.registry"))
    if resolved.get("registry_service", "managed") not in ("managed", "external"):
        raise SpecError(Where(path, lines.get("registry_service", 0),
                              "variables.registry_service"),
                        f"'{resolved['registry_service']}' is neither 'managed' nor 'external'.")
    if resolved.get("reuse", "yes").lower() not in ("yes", "no", "true", "false", "1", "0",
                                                     "on", "off"):
        raise SpecError(Where(path, lines.get("reuse", 0), "variables.reuse"),
                        f"'{resolved['reuse']}' is neither 'yes' nor 'no'.")
    if (resolved.get("builder") or "docker") not in BUILDERS:
        raise SpecError(Where(path, lines.get("builder", 0), "variables.builder"),
                        f"'{resolved['builder']}' is neither 'docker' nor 'buildah'.",
                        "It may come from AC295_BUILDER or the command line.")
    epoch = resolved.get("source_date_epoch") or "0"
    if not epoch.isdigit() or len(epoch) > 11:
        raise SpecError(Where(path, lines.get("source_date_epoch", 0),
                              "variables.source_date_epoch"),
                        f"'{epoch}' is not a time in seconds since 1970 (SOURCE_DATE_EPOCH).",
                        "Write a whole number such as 1686355200, the day bookworm came out.")
    return Config(root=root.resolve(), state=state, variables=resolved)


def _check_registry(value: str, where: Where) -> None:
    host, colon, port = value.partition(":")
    if not host or "/" in value or (colon and not port.isdigit()):
        raise SpecError(where, f"'{value}' is not a registry host[:port].",
                        "For instance 127.0.0.1:5000 or docker.io (it may come from "
                        "AC295_REGISTRY or the command line).")
    if host in LOOPBACK_HOSTS and not colon:
        raise SpecError(where, f"'{value}' needs a port: the local registry listens on one.",
                        f"Write {host}:5000.")


def _resolve_all(values: dict[str, str], path: Path, lines: Mapping[str, int]) -> dict[str, str]:
    resolved: dict[str, str] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> str:
        if name in resolved:
            return resolved[name]
        if name in chain:
            cycle = " -> ".join(chain + (name,))
            raise SpecError(Where(path, lines.get(name, 0), f"variables.{name}"),
                            f"variables refer to each other in a circle: {cycle}.")
        where = Where(path, lines.get(name, 0), f"variables.{name}")
        refs = set()
        for _, ref, _, _ in _fields(values[name], where):
            if ref == "":
                raise SpecError(where, f"empty '{{}}' in '{values[name]}'.",
                                "Write {{ and }} for literal braces.")
            if ref is not None:
                refs.add(ref)
        subs = {ref: resolve(_known(ref, values, where), chain + (name,)) for ref in refs}
        resolved[name] = values[name].format_map(subs)
        return resolved[name]

    for name in values:
        resolve(name, ())
    return resolved


def _fields(text: str, where: Where) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(text))
    except ValueError as err:
        raise SpecError(where, f"bad braces in '{text}': {err}.",
                        "Write {{ and }} for literal braces.") from None


def _known(name: str, variables: Mapping[str, str], where: Where) -> str:
    if not name.isidentifier():
        raise SpecError(where, f"'{{{name}}}' is not a variable reference.",
                        "Use {name} with a plain name; write {{ and }} for literal braces.")
    if name not in variables:
        raise SpecError(where, f"unknown variable '{{{name}}}'.", did_you_mean(name, variables))
    return name


def expand(text: str, variables: Mapping[str, str], where: Where) -> str:
    """Substitute ``{name}`` references in one spec string.

    Raises:
        SpecError: unknown variable (with a suggestion) or malformed braces.
    """
    subs = {}
    for _, field, _, _ in _fields(text, where):
        if field is not None:
            if field == "":
                raise SpecError(where, f"empty '{{}}' in '{text}'.",
                                "Write {{ and }} for literal braces.")
            subs[field] = variables[_known(field, variables, where)]
    return text.format_map(subs)
