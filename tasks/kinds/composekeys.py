"""The keys of a compose file that the project honours, and how their values are read.

``KeyReader`` reads one service's values (environment, ports, mounts, health check) and
refuses every key the project cannot honour, at its line, saying why (``REFUSED``);
``tasks.kinds.composefile.ComposeFile`` builds the steps from what it reads.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..dsl import compose as reader
from ..dsl.yamlsrc import LDict, LList
from ..engine.options import Health
from ..errors import SpecError, Where
from .container import Use, absolute_target, bind_path

#: The keys the project reads, by where they are; anything else of the Compose
#: Specification is refused (``x-`` extensions are ignored).
SUPPORTED: Mapping[str, tuple[str, ...]] = {
    "file": ("version", "services", "networks", "volumes"),
    "service": ("build", "image", "command", "entrypoint", "environment", "env_file", "ports",
                "expose", "volumes", "working_dir", "user", "healthcheck", "depends_on",
                "networks", "container_name", "restart", "deploy"),
    "build": ("context", "dockerfile", "args"),
    "healthcheck": ("test", "interval", "timeout", "retries", "start_period", "disable"),
    "network": ("name", "driver"),
    "volume": ("name", "driver"),
    "deploy": ("replicas",),
    "attachment": ("aliases",),
    "port": ("target", "published", "protocol"),
    "mount": ("type", "source", "target", "read_only"),
}
_ISOLATION = "the project runs every container with Docker's default isolation"
_LIMITS = "every container is bounded the same way (2 GiB of memory, 1024 processes)"
#: Why a key is refused, where there is more to say than "not supported".
REFUSED: Mapping[str, str] = {
    "privileged": "the project runs every container unprivileged",
    "network_mode": "services join the compose file's own networks; host networking would "
                    "reach this machine's ports",
    **{key: _ISOLATION for key in ("cap_add", "cap_drop", "security_opt", "devices", "pid",
                                   "ipc", "userns_mode", "cgroup_parent", "sysctls",
                                   "device_cgroup_rules", "isolation", "runtime", "group_add",
                                   "oom_kill_disable", "storage_opt", "credential_spec")},
    **{key: _LIMITS for key in ("mem_limit", "memswap_limit", "mem_reservation", "cpus",
                                "cpu_shares", "cpuset", "cpu_count", "cpu_percent",
                                "cpu_period", "cpu_quota", "pids_limit", "shm_size", "ulimits",
                                "blkio_config", "mem_swappiness", "oom_score_adj",
                                "cpu_rt_period", "cpu_rt_runtime")},
    "deploy": "of 'deploy', only 'replicas' is read (placement, resources and policies are "
              "a Swarm's)",
    "restart": "services live while the run lasts and its end removes them",
    "external": "the project makes and removes its networks and volumes itself",
    "secrets": "pass values in 'environment' or 'env_file', or mount a file of the exercise",
    "configs": "mount a file of the exercise read-only instead",
    "links": "services find each other by name on their network",
    "external_links": "services find each other by name on their network",
    "extends": "write the service out in full",
    "scale": "use deploy: replicas",
    "build": "of 'build', only context, dockerfile and args are read",
}
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
#: Docker's defaults for what a compose healthcheck leaves out.
_HEALTH_DEFAULTS = {"interval": 30.0, "timeout": 30.0, "start_period": 0.0}


class KeyReader:
    """Reads the values of one compose file's services; errors name its lines.

    Attributes:
        file: the compose file; relative paths in it start at its folder.
        folder: the exercise folder, which every path must stay inside.
        env_files: the env files read so far (the spec cache watches them).
    """

    def __init__(self, file: Path, folder: Path) -> None:
        self.file, self.folder = file, folder
        self.env_files: list[Path] = []

    def named(self, kind: str, key: str) -> str:
        """A network's or volume's step name."""
        raise NotImplementedError

    def where(self, node: Any, key: str, path: str) -> Where:
        line = node.line_of(key) if isinstance(node, LDict) else getattr(node, "line", 1)
        return Where(self.file, line, f"{path}.{key}" if path else key)

    def refuse(self, node: Any, allowed: tuple[str, ...], path: str) -> None:
        """Reject every key of ``node`` the project does not read (``x-`` ones aside)."""
        if not isinstance(node, LDict):
            return
        for key in node:
            if key in allowed or key.startswith("x-"):
                continue
            parts = path.split(".")  # services.<service>.build: the build's own reason
            section = parts[2] if len(parts) == 3 and parts[0] == "services" else ""
            reason = REFUSED.get(section if section in ("build", "deploy") else key, "")
            raise SpecError(self.where(node, key, path), f"'{key}' is not supported"
                            + (f": {reason}." if reason else "."),
                            "Remove it. Supported here: " + ", ".join(allowed) + ".")

    def strings(self, node: Any, where: Where, what: str) -> dict[str, str]:
        """``environment`` or build ``args``: a mapping, or a list of KEY=VALUE."""
        if isinstance(node, LList):
            found: dict[str, str] = {}
            for item, line in zip(node, node.item_lines):
                key, equals, value = str(item).partition("=")
                if not equals:
                    raise SpecError(Where(self.file, line, where.key), f"'{item}' has no value"
                                    f" ({what} come from the file only, never from the "
                                    "environment).", f"Write {key}=value.")
                found[key] = value
            return found
        found = {}
        for key, value in (node or LDict()).items():
            if value is None or isinstance(value, bool):
                raise SpecError(self.where(node, key, where.key), f"{key} has "
                                f"{'no value' if value is None else 'a true/false value'}.",
                                "Give it a string value (quote true/false).")
            found[key] = str(value)
        return found

    def environment(self, node: LDict, path: str) -> dict[str, str]:
        env: dict[str, str] = {}
        files = node.get("env_file")
        for text in [files] if isinstance(files, str) else (files or []):
            where = self.where(node, "env_file", path)
            env_path = bind_path(str(text), self.file.parent, self.folder, where)
            self.env_files.append(env_path)
            env.update(reader.env_file(env_path, where))
        env.update(self.strings(node.get("environment"),
                                self.where(node, "environment", path), "variables"))
        return env

    def ports(self, node: LDict, path: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for item, line in zip(node.get("ports") or [], (node.get("ports") or LList()).item_lines):
            where = Where(self.file, line, f"{path}.ports")
            if isinstance(item, LDict):
                self.refuse(item, SUPPORTED["port"], f"{path}.ports")
                inside, host, proto = item.get("target"), item.get("published"), \
                    item.get("protocol") or "tcp"
                ip = ""
            else:
                parts = str(item).rsplit("/", 1)
                proto = parts[1] if len(parts) == 2 else "tcp"
                fields = parts[0].rsplit(":", 2)
                ip = fields[0] if len(fields) == 3 else ""
                host = fields[-2] if len(fields) >= 2 else None
                inside = fields[-1]
            if ip not in ("", "127.0.0.1", "localhost"):
                raise SpecError(where, f"'{item}' publishes on {ip}: ports are published on "
                                "127.0.0.1 only.", "Write 127.0.0.1:HOST:CONTAINER or "
                                "HOST:CONTAINER.")
            if host is None or not str(host).isdigit() or not str(inside).isdigit() \
                    or proto not in ("tcp", "udp") \
                    or not 0 < int(str(host)) < 65536 or not 0 < int(str(inside)) < 65536:
                raise SpecError(where, f"'{item}' is not HOST:CONTAINER with one port each "
                                "(no ranges, no random host port).",
                                "Name the host port, e.g. 127.0.0.1:8080:80.")
            key = str(inside) if proto == "tcp" else f"{inside}/{proto}"
            if key in found:
                raise SpecError(where, f"container port {key} is published twice.")
            found[key] = str(host)
        return found

    def mounts(self, node: LDict, path: str, volumes: set[str]) -> tuple[Use, ...]:
        uses: list[Use] = []
        items = node.get("volumes") or LList()
        for item, line in zip(items, items.item_lines):
            where = Where(self.file, line, f"{path}.volumes")
            if isinstance(item, LDict):
                self.refuse(item, SUPPORTED["mount"], f"{path}.volumes")
                kind, source, target = item.get("type"), item.get("source"), item.get("target")
                read_only = item.get("read_only") is True
                if kind not in ("volume", "bind"):
                    raise SpecError(where, f"a '{kind}' mount is not supported.",
                                    "Use a named volume or a read-only bind.")
            else:
                parts = str(item).split(":")
                mode = parts.pop() if len(parts) == 3 else "rw"
                if len(parts) == 1:
                    raise SpecError(where, f"'{item}' is an anonymous volume, which is not "
                                    "supported.", "Name it: NAME:/path, and declare NAME "
                                    "under the top-level 'volumes:'.")
                if len(parts) != 2 or mode not in ("ro", "rw"):
                    raise SpecError(where, f"'{item}' is not SOURCE:TARGET[:ro|:rw].")
                source, target = parts
                read_only = mode == "ro"
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            if not source or not target:
                raise SpecError(where, "a mount needs a source and a target.")
            target = absolute_target(str(target), where)
            if kind == "bind":
                if str(source).startswith("~"):
                    raise SpecError(where, f"'{source}' is outside the exercise folder: only "
                                    "files of the exercise may be mounted.")
                bound = bind_path(str(source), self.file.parent, self.folder, where)
                if not read_only:
                    raise SpecError(where, f"the bind of '{source}' must be read-only: the "
                                    "project mounts files of the exercise read-only.",
                                    "Add ':ro' (or read_only: true), or use a named volume.")
                uses.append(Use(target=target, path=bound, read_only=True))
            else:
                if source not in volumes:
                    raise SpecError(where, f"the volume '{source}' is not declared.",
                                    f"Declare it under the top-level 'volumes:' ({source}: {{}}).")
                uses.append(Use(target=target, volume=self.named("volume", str(source)),
                                read_only=read_only))
        return tuple(uses)

    def health(self, node: LDict, path: str) -> Health | None:
        h = node.get("healthcheck")
        if h is None:
            return None
        self.refuse(h, SUPPORTED["healthcheck"], f"{path}.healthcheck")
        where = self.where(node, "healthcheck", path)
        test = h.get("test")
        if h.get("disable") is True or (isinstance(test, list) and test[:1] == ["NONE"]):
            return None
        if test is None:
            raise SpecError(where, "a healthcheck needs a 'test' here (the image's own "
                            "HEALTHCHECK is not read).")
        words = ("CMD-SHELL", test) if isinstance(test, str) else tuple(str(t) for t in test)
        if len(words) < 2 or words[0] not in ("CMD", "CMD-SHELL") or not words[1].strip():
            raise SpecError(where, f"the test {list(words)} is not [CMD, ...], "
                            "[CMD-SHELL, command] or a command string.")
        times = {key: reader.duration(h[key], self.where(h, key, f"{path}.healthcheck"))
                 if key in h else default for key, default in _HEALTH_DEFAULTS.items()}
        retries = h.get("retries", 3)
        if not isinstance(retries, int) or retries < 1:
            raise SpecError(self.where(h, "retries", f"{path}.healthcheck"),
                            "retries must be a whole number, 1 or more.")
        return Health(test=words, retries=retries, **times)
