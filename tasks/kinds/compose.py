"""``compose:``: a compose file of the exercise, as the ordinary steps it stands for.

The step names a compose file (``docker-compose.yml``) inside the exercise folder. Parsing
reads it once (``tasks.dsl.compose``: YAML with lines, the Compose Specification's JSON
Schema, ``${NAME}`` from the step's ``variables:``) and makes, for step ``S``:

- ``S.<service>.image``: a ``build`` step (``build:`` with context, dockerfile, args) or a
  ``pull`` step (``image:``), one per image;
- ``S.<service>``: a service step, or a one-shot run on the network for a service named in
  ``runs:`` (or one that another waits for with ``service_completed_successfully``);
  ``S.<service>.<n>`` for each of ``deploy: replicas: N`` when N > 1;
- ``S.<network>.network`` and ``S.<volume>.volume``: network and volume steps;
- ``S`` itself: ordered after all of them, it says what runs where.

``depends_on`` becomes ``after:``: a service step with a ``healthcheck`` ends only when
Docker says it is healthy, and a one-shot run's step when it exited 0, so what waits for
them (``service_healthy``, ``service_completed_successfully``) starts after that;
``service_started`` waits for the start. Names in the engine carry ``local_prefix``. Every
key the project cannot honour is an error at its line (``composekeys.REFUSED`` says why).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager, Mapping

from ..dsl import compose as reader
from ..dsl.fields import Fields
from ..dsl.model import Step
from ..errors import SpecError
from ..progress import progress
from .actions import action
from .base import Key, Kind, Session, ShellRequest, TaskContext
from .composefile import ComposeFile
from .run import RunStep
from .runtime import Runtime
from .service import ServiceStep
from .shells import instead


@dataclass(frozen=True, kw_only=True)
class ComposeStep(Step):
    """A compose file's app: the steps it stands for, and a summary once they all ran."""

    kind: ClassVar[str] = "compose"
    file: Path
    variables: Mapping[str, str]
    runs: tuple[str, ...]  # the services run once to the end (runs: and inferred)
    made: tuple[Step, ...]  # the steps the file stands for
    env_files: tuple[Path, ...] = ()  # the env files its services read

    @property
    def services(self) -> list[ServiceStep]:
        return [s for s in self.made if isinstance(s, ServiceStep)]


def summary(rt: Runtime, step: ComposeStep) -> None:
    """Say what runs where, once every step of the file ran."""
    for service in step.services:
        ports = ", ".join(f"127.0.0.1:{h}->{c}" for c, h in service.ports.items())
        progress(f"{service.aliases[0]}: {service.container_name} runs"
                 + (" (healthy)" if service.healthcheck else "")
                 + (f", published on {ports}" if ports else ""))
    for name in step.runs:
        progress(f"{name}: ran once and exited 0")


class Compose(Kind[ComposeStep]):
    name = "compose"
    shape = "component"
    keyword = Key("compose", "string", "a compose file of the exercise "
                  "(docker-compose.yml)", required=True)
    keys = (Key("variables", "mapping", "values of ${NAME} in the compose file (nothing "
                "comes from the environment)"),
            Key("runs", "strings", "services that run once, to the end, and must exit 0 (an "
                "integration test); the others are services"))
    summary = "a compose file's services, networks and volumes as steps of the exercise"

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> ComposeStep:
        file = f.path("compose", f.required("compose"), folder)
        if not file.is_relative_to(folder.resolve()):
            raise SpecError(f.where("compose"), f"the compose file {file} is not in the "
                            "exercise folder.", "Put it in the exercise's folder.")
        if not file.is_file():
            raise SpecError(f.where("compose"), f"no compose file at {file}.")
        variables = f.mapping("variables")
        data = reader.load(file, variables)
        read = ComposeFile(data, file, folder, common["exercise"], common["name"],
                           f.variables.get("local_prefix", ""), common["after"])
        made, once = read.app(f.texts("runs"), f.where("runs"))
        waits = tuple(f"{common['exercise']}:{s.name}" for s in made
                      if isinstance(s, (ServiceStep, RunStep)))
        return ComposeStep(**{**common, "after": common["after"] + waits}, file=file,
                           variables=variables, runs=tuple(once), made=tuple(made),
                           env_files=tuple(dict.fromkeys(read.env_files)))

    def expand(self, step: ComposeStep) -> list[Step]:
        return [step, *step.made]

    def parse_inputs(self, step: ComposeStep) -> tuple[Path, ...]:
        # the made steps name their own (Dockerfiles, contexts, binds)
        return (step.file, *step.env_files)

    def ephemeral(self, step: ComposeStep) -> str:
        return "it reports on services, which run every time"

    def task(self, step: ComposeStep, ctx: TaskContext) -> dict[str, Any]:
        return {"actions": [action(summary, ctx.rt, step)]}

    def shell(self, step: ComposeStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return instead(step.task, f"runs the services of {step.file.name}",
                       [s.task for s in step.made if isinstance(s, (ServiceStep, RunStep))],
                       "one of its services")
