"""A compose file read into steps: images, networks, volumes, services and one-shot runs.

``ComposeFile.app`` turns a loaded compose file (``tasks.dsl.compose.load``: validated and
interpolated) into the steps of one ``compose:`` step (see ``tasks.kinds.compose``); the
values of each service and the keys it refuses are ``tasks.kinds.composekeys``'. Each error
names the compose file, the line and the key, and says what to do instead.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..dsl import compose as reader
from ..dsl import dockerfiles
from ..dsl.fields import Fields
from ..dsl.model import Step
from ..dsl.yamlsrc import LDict, LList
from ..engine.services import Probe
from ..errors import SpecError, Where, did_you_mean
from .build import BuildStep
from .composekeys import CONDITIONS, REFUSED, SUPPORTED, KeyReader
from .container import absolute_target, bind_path
from .expect import Expect
from .network import NetworkStep
from .pull import PullStep
from .run import RunStep
from .service import ServiceStep
from .volume import VolumeStep


def _slug(text: str) -> str:
    """A lower-case name the engine and image references accept."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


class ComposeFile(KeyReader):
    """Reads one compose file into steps; every error names the compose file's line."""

    def __init__(self, data: LDict, file: Path, folder: Path, exercise: str, step: str,
                 prefix: str, after: tuple[str, ...]) -> None:
        super().__init__(file, folder)
        self.data = data
        self.exercise, self.step, self.prefix, self.after = exercise, step, prefix, after
        self.project = f"{prefix}{_slug(exercise)}-{_slug(step)}"
        self.services: LDict = data.get("services") or LDict()

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


