"""A compose file read into steps: the keys the project honours, and why it refuses others.

``ComposeFile.app`` turns a loaded compose file (``tasks.dsl.compose.load``: validated and
interpolated) into the steps of one ``compose:`` step (see ``tasks.kinds.compose``). Each
error names the compose file, the line and the key, and says what to do instead.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from ..dsl import compose as reader
from ..dsl import dockerfiles
from ..dsl.fields import Fields
from ..dsl.model import Step
from ..dsl.yamlsrc import LDict, LList
from ..engine.options import Health
from ..engine.services import Probe
from ..errors import SpecError, Where, did_you_mean
from .build import BuildStep
from .container import Use, absolute_target, bind_path
from .expect import Expect
from .network import NetworkStep
from .pull import PullStep
from .run import RunStep
from .service import ServiceStep
from .volume import VolumeStep

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


def _slug(text: str) -> str:
    """A lower-case name the engine and image references accept."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


class ComposeFile:
    """Reads one compose file into steps; every error names the compose file's line."""

    def __init__(self, data: LDict, file: Path, folder: Path, exercise: str, step: str,
                 prefix: str, after: tuple[str, ...]) -> None:
        self.data, self.file, self.folder = data, file, folder
        self.exercise, self.step, self.prefix, self.after = exercise, step, prefix, after
        self.project = f"{prefix}{_slug(exercise)}-{_slug(step)}"
        self.services: LDict = data.get("services") or LDict()
        self.env_files: list[Path] = []

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
            name = path.rsplit(".", 1)[-1] if path else ""
            reason = REFUSED.get(name if name in ("build", "deploy") else key,
                                 REFUSED.get(key, ""))
            raise SpecError(self.where(node, key, path), f"'{key}' is not supported"
                            + (f": {reason}." if reason else "."),
                            "Remove it. Supported here: " + ", ".join(allowed) + ".")

    def named(self, kind: str, key: str) -> str:
        """A network's or volume's step name."""
        return f"{self.step}.{key}.{kind}"

    def step_of(self, service: str) -> str:
        return f"{self.step}.{service}"

    def common(self, name: str, doc: str, node: LDict, path: str,
               after: tuple[str, ...] = ()) -> dict[str, Any]:
        section, _, key = path.partition(".")  # services.<name>, networks.<name>, ...
        parent = self.data.get(section)
        line = parent.line_of(key) if isinstance(parent, LDict) and key in parent else node.line
        return dict(exercise=self.exercise, name=name, doc=doc,
                    after=self.after + after, where=Where(self.file, line, path),
                    lines=dict(node.key_lines))

    # --- networks and volumes ---------------------------------------------------------

    def tops(self, kind: str, used: set[str]) -> list[Step]:
        """Network or volume steps: the declared ones, and ``default`` when used."""
        declared = self.data.get(f"{kind}s") or LDict()
        made: list[Step] = []
        names = list(declared) + (["default"] if kind == "network" and "default" in used
                                  and "default" not in declared else [])
        for key in names:
            node = declared.get(key) or LDict()
            path = f"{kind}s.{key}"
            if isinstance(node, LDict):
                node.line = node.line or declared.line_of(key)
            self.refuse(node, SUPPORTED[kind], path)
            driver = node.get("driver")
            if driver is not None and driver != ("bridge" if kind == "network" else "local"):
                raise SpecError(self.where(node, "driver", path), f"the {kind} driver "
                                f"'{driver}' is not supported.", "Leave 'driver' out.")
            engine_name = f"{self.prefix}{node.get('name')}" if node.get("name") \
                else f"{self.project}_{_slug(key)}"
            common = self.common(self.named(kind, key), f"{kind} {key} of {self.file.name}",
                                 node if isinstance(node, LDict) else LDict(), path)
            made.append(NetworkStep(**common, network=engine_name) if kind == "network"
                        else VolumeStep(**common, volume=engine_name))
        return made

    # --- one service ------------------------------------------------------------------

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

    def image(self, name: str, node: LDict, path: str, built: dict[str, str]
              ) -> tuple[Step | None, str]:
        """The image step a service runs (None when another service's step makes it)."""
        step_name = f"{self.step}.{name}.image"
        build = node.get("build")
        if build is None:
            if "image" not in node:
                raise SpecError(Where(self.file, node.line, path), f"service '{name}' has "
                                "neither 'build' nor 'image'.", "Add one of them.")
            ref = Fields(node, self.file, path, {}).image_ref("image", digest_ok=True)
            if ref in built:
                return None, built[ref]
            built[ref] = step_name
            return PullStep(**self.common(step_name, f"docker pull {ref}", node, path),
                            ref=ref), step_name
        if isinstance(build, str):
            build = LDict({"context": build})
            build.line, build.key_lines = node.line_of("build"), {"context": node.line_of("build")}
        self.refuse(build, SUPPORTED["build"], f"{path}.build")
        where = self.where(node, "build", path)
        context = bind_path(str(build.get("context") or "."), self.file.parent, self.folder,
                            where)
        if not context.is_dir():
            raise SpecError(where, f"the build context {context} is not a folder.")
        dockerfile = (context / str(build.get("dockerfile") or "Dockerfile")).resolve()
        if not dockerfile.is_relative_to(self.folder.resolve()) or not dockerfile.is_file():
            raise SpecError(where, f"no Dockerfile at {dockerfile} (inside the exercise).",
                            "Add it, or name another file with 'dockerfile:'.")
        args = self.strings(build.get("args"), Where(self.file, where.line, f"{path}.build."
                                                                              "args"),
                            "build args")
        try:
            bases = dockerfiles.base_images(dockerfile, args)
        except (OSError, UnicodeDecodeError) as err:
            raise SpecError(where, f"cannot read {dockerfile} as UTF-8 text ({err}).") from None
        tag = f"{self.project}-{_slug(name)}:latest"
        if node.get("image"):
            built[str(node["image"])] = step_name
        return BuildStep(**self.common(step_name, f"docker build of service {name}", node,
                                       path),
                         context=context, dockerfile=dockerfile, tag=tag, args=args,
                         bases=bases), step_name

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
                    or proto not in ("tcp", "udp"):
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
                if not read_only:
                    raise SpecError(where, f"the bind of '{source}' must be read-only: the "
                                    "project mounts files of the exercise read-only.",
                                    "Add ':ro' (or read_only: true), or use a named volume.")
                uses.append(Use(target=target, path=bind_path(str(source), self.file.parent,
                                                              self.folder, where),
                                read_only=True))
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
        if words[0] not in ("CMD", "CMD-SHELL") or len(words) < 2:
            raise SpecError(where, f"the test {list(words)} is not [CMD, ...], "
                            "[CMD-SHELL, command] or a command string.")
        times = {key: reader.duration(h[key], self.where(h, key, f"{path}.healthcheck"))
                 if key in h else default for key, default in _HEALTH_DEFAULTS.items()}
        retries = h.get("retries", 3)
        if not isinstance(retries, int) or retries < 1:
            raise SpecError(self.where(h, "retries", f"{path}.healthcheck"),
                            "retries must be a whole number, 1 or more.")
        return Health(test=words, retries=retries, **times)

    def depends(self, node: LDict, path: str) -> dict[str, str]:
        """The services a service waits for, and on what condition."""
        raw = node.get("depends_on")
        where = self.where(node, "depends_on", path)
        found = {str(d): "service_started" for d in raw} if isinstance(raw, LList) else \
            {str(d): str((c or {}).get("condition")) for d, c in (raw or LDict()).items()}
        for name, condition in found.items():
            if name not in self.services:
                raise SpecError(where, f"depends on '{name}', which is no service of this "
                                "file.", did_you_mean(name, self.services))
            if condition not in CONDITIONS:
                raise SpecError(where, f"the condition '{condition}' is not one of "
                                + ", ".join(CONDITIONS) + ".")
        return found

    def attachment(self, node: LDict, path: str) -> tuple[str, tuple[str, ...]]:
        """The one network a service joins, and its extra aliases there."""
        nets = node.get("networks")
        if nets is None:
            return "default", ()
        where = self.where(node, "networks", path)
        names = [str(n) for n in nets]
        if len(names) != 1:
            raise SpecError(where, f"the service joins {len(names)} networks; here a service "
                            "joins exactly one.", "Keep one network per service.")
        declared = self.data.get("networks") or LDict()
        if names[0] not in declared:
            raise SpecError(where, f"the network '{names[0]}' is not declared.",
                            f"Declare it under the top-level 'networks:' ({names[0]}: {{}}).")
        sub = nets.get(names[0]) if isinstance(nets, LDict) else None
        self.refuse(sub, SUPPORTED["attachment"], f"{path}.networks.{names[0]}")
        return names[0], tuple(str(a) for a in (sub or {}).get("aliases") or ())

    def replicas(self, node: LDict, path: str) -> int:
        deploy = node.get("deploy")
        if deploy is None:
            return 1
        self.refuse(deploy, SUPPORTED["deploy"], f"{path}.deploy")
        count = deploy.get("replicas", 1)
        if not isinstance(count, int) or count < 1:
            raise SpecError(self.where(deploy, "replicas", f"{path}.deploy"),
                            "replicas must be a whole number, 1 or more.")
        return count

    def app(self, runs: tuple[str, ...], runs_where: Where) -> tuple[list[Step], list[str]]:
        """Every step of the file, and the names of the services run once."""
        self.refuse(self.data, SUPPORTED["file"], "")
        if not self.services:
            raise SpecError(Where(self.file, self.data.line, "services"),
                            "the compose file has no services.")
        for name in runs:
            if name not in self.services:
                raise SpecError(runs_where, f"'runs' names '{name}', which is no service of "
                                f"{self.file.name}.", did_you_mean(name, self.services))
        nodes: dict[str, LDict] = {}
        for name, node in self.services.items():
            path = f"services.{name}"
            if not isinstance(node, LDict):
                node = LDict()
                node.line = self.services.line_of(name)
            self.refuse(node, SUPPORTED["service"], path)
            if node.get("restart") not in (None, "no"):
                raise SpecError(self.where(node, "restart", path), "'restart' is not "
                                f"supported: {REFUSED['restart']}.", "Remove it.")
            nodes[name] = node
        depends = {name: self.depends(node, f"services.{name}") for name, node in nodes.items()}
        once = set(runs) | {d for deps in depends.values() for d, c in deps.items()
                            if c == "service_completed_successfully"}
        attached = {name: self.attachment(node, f"services.{name}")
                    for name, node in nodes.items()}
        made = self.tops("network", {net for net, _ in attached.values()})
        made += self.tops("volume", set())
        volumes = set(self.data.get("volumes") or ())
        built: dict[str, str] = {}
        images: dict[str, str] = {}
        # builds first, so that a service whose image: names a built image runs that build
        for name in sorted(nodes, key=lambda n: "build" not in nodes[n]):
            step, images[name] = self.image(name, nodes[name], f"services.{name}", built)
            if step is not None:
                made.append(step)
        counts = {name: self.replicas(node, f"services.{name}") for name, node in nodes.items()}

        def steps_of(service: str) -> list[str]:
            base = self.step_of(service)
            n = counts[service]
            return [base] if n == 1 else [f"{base}.{i}" for i in range(1, n + 1)]

        healths = {name: self.health(node, f"services.{name}") for name, node in nodes.items()}
        for name, node in nodes.items():
            path = f"services.{name}"
            health = healths[name]
            for dep, condition in depends[name].items():
                where = self.where(node, "depends_on", path)
                if condition == "service_healthy" and (dep in once or healths[dep] is None):
                    raise SpecError(where, f"waits for '{dep}' to be healthy, but '{dep}' has "
                                    "no healthcheck" + (" (it runs once)" if dep in once
                                                        else "") + ".",
                                    f"Add a healthcheck to '{dep}' or use service_started.")
            after = tuple(f"{self.exercise}:{s}" for dep in depends[name] for s in steps_of(dep))
            net, aliases = attached[name]
            fields: dict[str, Any] = dict(
                          image=images[name],
                          command=reader.words(node["command"], self.where(node, "command",
                                                                           path))
                          if node.get("command") is not None else None,
                          env=self.environment(node, path),
                          network=self.named("network", net),
                          entrypoint=reader.words(node["entrypoint"],
                                                  self.where(node, "entrypoint", path))
                          if node.get("entrypoint") is not None else None,
                          working_dir=absolute_target(str(node["working_dir"]),
                                                      self.where(node, "working_dir", path))
                          if node.get("working_dir") else None,
                          user=str(node["user"]) if node.get("user") is not None else None,
                          volumes=self.mounts(node, path, volumes))
            ports = self.ports(node, path)
            if name in once:
                for key, problem in (("ports", ports), ("healthcheck", health),
                                     ("deploy", counts[name] > 1)):
                    if problem:
                        raise SpecError(self.where(node, key, path), f"'{name}' runs once (to "
                                        f"the end), so it has no '{key}'.",
                                        f"Remove '{key}', or '{name}' from runs:.")
                made.append(RunStep(**self.common(self.step_of(name), f"one-shot run of "
                                                  f"{name} on the network", node, path, after),
                                    expect=Expect(), timeout=300, **fields))
                continue
            if counts[name] > 1 and (ports or node.get("container_name")):
                raise SpecError(self.where(node, "deploy", path), f"{counts[name]} replicas "
                                "cannot share one published port or container name.",
                                "Remove 'ports' and 'container_name', or the replicas.")
            base_name = f"{self.prefix}{node['container_name']}" \
                if node.get("container_name") else f"{self.project}-{_slug(name)}"
            for n, step_name in enumerate(steps_of(name), 1):
                made.append(ServiceStep(
                    **self.common(step_name, f"service {name} of {self.file.name}", node, path,
                                  after),
                    container=base_name if counts[name] == 1 else f"{base_name}-{n}",
                    aliases=(name, *aliases), ports=ports, healthcheck=health,
                    ready=Probe(timeout=health.bound(), healthy=True) if health else None,
                    **fields))
        return made, sorted(once)


