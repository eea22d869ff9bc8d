"""Exercise specs: ``exercises/<name>/exercise.yml`` parsed once into frozen, typed objects.

Everything a user can get wrong is caught here, before any task runs: unknown keys (with a
"did you mean"), wrong types, unknown variables, missing files, dangling step references and
cycles. Each error names the file, the line and the key (see ``tasks.errors.SpecError``).
Strings are expanded with the project variables here, so later layers see final values.
"""
from __future__ import annotations

import graphlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from . import dockerfiles, yamlsrc
from .config import Config, expand
from .errors import SpecError, Where, did_you_mean

SPEC_FILE = "exercise.yml"
StepKind = Literal["build", "import", "run", "push", "sh"]
KINDS: tuple[StepKind, ...] = ("build", "import", "run", "push", "sh")
#: Kinds whose result is an image that `run` and `push` may refer to.
IMAGE_KINDS = ("build", "import")
COMMON_KEYS = ("doc", "after")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "build": ("tag", "dockerfile", "args"),
    "import": ("tag", "changes"),
    "run": ("command", "env", "expect", "timeout"),
    "push": ("tag",),
    "sh": ("deps", "targets"),
}
EXPECT_KEYS = ("exit_code", "stdout", "stderr")
#: doit's own commands: a top-level task of that name could never be run.
DOIT_COMMANDS = frozenset({"run", "list", "clean", "info", "help", "forget", "ignore", "auto",
                           "strace", "dumpdb", "reset-dep", "tabcompletion"})
#: Top-level tasks the project defines itself.
PROJECT_TASKS = frozenset({"registry_start", "registry_stop"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True, kw_only=True)
class Step:
    """What every step has: its name, exercise, doc line, explicit ordering and location."""

    exercise: str
    name: str
    doc: str
    after: tuple[str, ...]  # full task names "exercise:step"
    where: Where
    lines: Mapping[str, int] = field(default_factory=dict)  # line of each key, for errors

    def at(self, key: str) -> Where:
        """Where one of this step's keys is written."""
        return Where(self.where.file, self.lines.get(key, self.where.line),
                     f"{self.where.key}.{key}")

    @property
    def task(self) -> str:
        """The doit task name, ``exercise:step``."""
        return f"{self.exercise}:{self.name}"


@dataclass(frozen=True, kw_only=True)
class BuildStep(Step):
    """Build an image from a Dockerfile (``docker build``)."""

    kind: Literal["build"] = "build"
    context: Path
    dockerfile: Path
    tag: str
    args: Mapping[str, str]
    bases: tuple[str, ...]  # FROM references, args substituted, stages and scratch left out


@dataclass(frozen=True, kw_only=True)
class ImportStep(Step):
    """Import a root file system tarball as an image (``docker import``)."""

    kind: Literal["import"] = "import"
    tarball: Path
    tag: str
    changes: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Expect:
    """Checks on a one-shot container: exit code and regexes its output must match."""

    exit_code: int = 0
    stdout: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RunStep(Step):
    """Run a one-shot container from an image step's result and check what it printed."""

    kind: Literal["run"] = "run"
    image: str  # name of the image step in the same exercise
    command: tuple[str, ...] | None
    env: Mapping[str, str]
    expect: Expect
    timeout: int


@dataclass(frozen=True, kw_only=True)
class PushStep(Step):
    """Push an image step's result to a registry."""

    kind: Literal["push"] = "push"
    image: str
    tag: str | None  # None: the image step's own tag


@dataclass(frozen=True, kw_only=True)
class ShStep(Step):
    """A Makefile-style recipe: shell commands, with file deps and targets."""

    kind: Literal["sh"] = "sh"
    commands: tuple[str, ...]
    deps: tuple[Path, ...]
    targets: tuple[Path, ...]


AnyStep = BuildStep | ImportStep | RunStep | PushStep | ShStep


@dataclass(frozen=True)
class Exercise:
    """One exercise folder: its doc line and its steps in file order."""

    name: str
    doc: str
    folder: Path
    file: Path
    steps: Mapping[str, AnyStep] = field(default_factory=dict)


def load_project(config: Config) -> list[Exercise]:
    """Load every ``exercises/*/exercise.yml`` and check references and cycles across them.

    Raises:
        SpecError: the first problem found, with file, line and key.
    """
    folders = sorted(p.parent for p in (config.root / "exercises").glob(f"*/{SPEC_FILE}"))
    exercises = [load_exercise(folder / SPEC_FILE, config) for folder in folders]
    check_graph(exercises)
    return exercises


def load_exercise(path: Path, config: Config) -> Exercise:
    """Parse one exercise.yml. References inside the exercise are checked here too."""
    name = path.parent.name
    data = yamlsrc.load(path)
    if not isinstance(data, yamlsrc.LDict):
        raise SpecError(Where(path, 1), "an exercise must be a mapping with 'doc' and 'steps'.")
    if not _NAME.match(name) or name in DOIT_COMMANDS or name in PROJECT_TASKS:
        raise SpecError(Where(path, 1), f"the folder name '{name}' cannot be a doit task name.",
                        "Rename the folder: letters, digits, '_', '.', '-', and not a doit "
                        "command (run, list, clean, info, ...).")
    _reject_unknown(data, ("doc", "steps"), path, "")
    doc = _expect(data, "doc", str, path, "", required=True)
    steps_node = _expect(data, "steps", dict, path, "", required=True)
    if not steps_node:
        raise SpecError(Where(path, data.line_of("steps"), "steps"), "an exercise needs steps.")
    variables = config.variables
    steps: dict[str, AnyStep] = {}
    for step_name, node in steps_node.items():
        key = f"steps.{step_name}"
        where = Where(path, steps_node.line_of(step_name), key)
        if not _NAME.match(step_name):
            raise SpecError(where, f"bad step name '{step_name}'.",
                            "Use letters, digits, '_', '.', '-'.")
        if not isinstance(node, yamlsrc.LDict):
            raise SpecError(where, "a step must be a mapping with one of the keys "
                            + ", ".join(KINDS) + ".")
        steps[step_name] = _parse_step(name, step_name, node, path, variables)
    exercise = Exercise(name=name, doc=expand(doc, variables, Where(path, data.line_of("doc"),
                                                                    "doc")),
                        folder=path.parent, file=path, steps=steps)
    _check_local_refs(exercise)
    return exercise


def _parse_step(exercise: str, name: str, node: yamlsrc.LDict, path: Path,
                variables: Mapping[str, str]) -> AnyStep:
    prefix = f"steps.{name}"
    kinds = [k for k in KINDS if k in node]
    if len(kinds) != 1:
        found = " and ".join(f"'{k}'" for k in kinds) if kinds else "none"
        unknown = [k for k in node if k not in KINDS and k not in _all_keys()]
        hint = did_you_mean(unknown[0], KINDS) if unknown and not kinds else (
            "Each step has exactly one of: " + ", ".join(KINDS) + ".")
        if unknown and not kinds:
            raise SpecError(Where(path, node.line_of(unknown[0]), f"{prefix}.{unknown[0]}"),
                            f"unknown key '{unknown[0]}'.", hint)
        raise SpecError(Where(path, node.line, prefix), f"a step needs exactly one kind, found "
                        f"{found}.", hint)
    kind = kinds[0]
    _reject_unknown(node, (kind,) + COMMON_KEYS + KIND_KEYS[kind], path, prefix)

    def where(key: str) -> Where:
        return Where(path, node.line_of(key), f"{prefix}.{key}")

    def text(key: str) -> str | None:
        value = _expect(node, key, (str, int), path, prefix)
        return None if value is None else expand(str(value), variables, where(key))

    def required(key: str) -> str:
        value = _expect(node, key, (str, int), path, prefix, required=True)
        return expand(str(value), variables, where(key))

    def texts(key: str) -> tuple[str, ...]:
        value = node.get(key)
        if value is None:
            return ()
        items = [value] if isinstance(value, (str, int)) else value
        if not isinstance(items, list) or not all(isinstance(i, (str, int)) for i in items):
            raise SpecError(where(key), "must be a string or a list of strings.")
        return tuple(expand(str(i), variables, where(key)) for i in items)

    def mapping(key: str) -> dict[str, str]:
        value = _expect(node, key, dict, path, prefix) or yamlsrc.LDict()
        out = {}
        for k, v in value.items():
            if not isinstance(v, (str, int, float)) or isinstance(v, bool):
                raise SpecError(Where(path, value.line_of(k), f"{prefix}.{key}.{k}"),
                                f"must be a string, not {type(v).__name__}.")
            out[str(k)] = expand(str(v), variables, Where(path, value.line_of(k),
                                                          f"{prefix}.{key}.{k}"))
        return out

    folder = path.parent
    common: dict[str, Any] = dict(
        exercise=exercise, name=name, where=Where(path, node.line, prefix),
        lines=dict(node.key_lines),
        doc=text("doc") or "",
        after=tuple(a if ":" in a else f"{exercise}:{a}" for a in texts("after")))
    if kind == "build":
        context = (folder / required("build")).resolve()
        if not context.is_dir():
            raise SpecError(where("build"), f"the build context {context} is not a folder.")
        dockerfile = (context / (text("dockerfile") or "Dockerfile")).resolve()
        if not dockerfile.is_file():
            key = "dockerfile" if "dockerfile" in node else "build"
            raise SpecError(where(key), f"no Dockerfile at {dockerfile}.",
                            "Add it, or name another file with 'dockerfile:'.")
        args = mapping("args")
        bases = dockerfiles.base_images(dockerfile, args)
        return BuildStep(**common, context=context, dockerfile=dockerfile,
                         tag=_image_ref(required("tag"), where("tag")),
                         args=args, bases=bases)
    if kind == "import":
        return ImportStep(**common, tarball=(folder / required("import")).resolve(),
                          tag=_image_ref(required("tag"), where("tag")),
                          changes=texts("changes"))
    if kind == "run":
        command = node.get("command")
        timeout = _expect(node, "timeout", int, path, prefix)
        if timeout is not None and timeout <= 0:
            raise SpecError(where("timeout"), "must be a positive number of seconds.")
        return RunStep(**common, image=required("run"),
                       command=None if command is None else texts("command"),
                       env=mapping("env"), expect=_parse_expect(node, path, prefix, variables),
                       timeout=timeout or 300)
    if kind == "push":
        tag = text("tag")
        return PushStep(**common, image=required("push"),
                        tag=None if tag is None else _image_ref(tag, where("tag")))
    commands = texts("sh")
    if not commands:
        raise SpecError(where("sh"), "a recipe needs at least one command.")
    return ShStep(**common, commands=commands,
                  deps=tuple((folder / d).resolve() for d in texts("deps")),
                  targets=tuple((folder / t).resolve() for t in texts("targets")))


def _parse_expect(node: yamlsrc.LDict, path: Path, prefix: str,
                  variables: Mapping[str, str]) -> Expect:
    value = _expect(node, "expect", dict, path, f"{prefix}") or yamlsrc.LDict()
    if not value:
        return Expect()
    _reject_unknown(value, EXPECT_KEYS, path, f"{prefix}.expect")
    exit_code = _expect(value, "exit_code", int, path, f"{prefix}.expect")
    patterns: dict[str, tuple[str, ...]] = {}
    for stream in ("stdout", "stderr"):
        raw = value.get(stream)
        where = Where(path, value.line_of(stream), f"{prefix}.expect.{stream}")
        items = [] if raw is None else [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise SpecError(where, "must be a regular expression or a list of them.")
        expanded = tuple(expand(i, variables, where) for i in items)
        for pattern in expanded:
            try:
                re.compile(pattern)
            except re.error as err:
                raise SpecError(where, f"'{pattern}' is not a valid regular expression: "
                                f"{err}.") from None
        patterns[stream] = expanded
    return Expect(exit_code=0 if exit_code is None else exit_code, **patterns)


def _image_ref(ref: str, where: Where) -> str:
    # Docker's rule, simplified: lowercase repository, optional tag; no digest for outputs.
    if not re.match(r"^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$", ref):
        raise SpecError(where, f"'{ref}' is not a valid image reference.",
                        "Use lowercase [registry/]name[:tag], e.g. 127.0.0.1:5000/me/app:v1.")
    return ref


def _all_keys() -> set[str]:
    return set(COMMON_KEYS).union(*KIND_KEYS.values())


def _reject_unknown(node: yamlsrc.LDict, allowed: tuple[str, ...], path: Path, prefix: str) -> None:
    for key in node:
        if key not in allowed:
            dotted = f"{prefix}.{key}" if prefix else key
            raise SpecError(Where(path, node.line_of(key), dotted), f"unknown key '{key}'.",
                            did_you_mean(key, allowed))


def _expect(node: yamlsrc.LDict, key: str, kind: type | tuple[type, ...], path: Path,
            prefix: str, required: bool = False) -> Any:
    dotted = f"{prefix}.{key}" if prefix else key
    if key not in node or node[key] is None:
        if required:
            raise SpecError(Where(path, node.line, dotted), f"missing key '{key}'.")
        return None
    value = node[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = {str: "a string", int: "a whole number", dict: "a mapping", list: "a list"}
        want = " or ".join(names.get(k, k.__name__) for k in
                           (kind if isinstance(kind, tuple) else (kind,)))
        raise SpecError(Where(path, node.line_of(key), dotted),
                        f"must be {want}, not {type(value).__name__} ({value!r}).")
    return value


def _check_local_refs(exercise: Exercise) -> None:
    for step in exercise.steps.values():
        if isinstance(step, (RunStep, PushStep)):
            target = exercise.steps.get(step.image)
            where = step.at(step.kind)
            if target is None:
                raise SpecError(where, f"no step '{step.image}' in this exercise.",
                                did_you_mean(step.image, exercise.steps))
            if target.kind not in IMAGE_KINDS:
                raise SpecError(where, f"step '{step.image}' is a '{target.kind}' step, which "
                                "makes no image.", "Refer to a build or import step.")


def normalize_ref(ref: str) -> str:
    """The form Docker compares references in: ``:latest`` added, ``docker.io/library/`` dropped."""
    name, _, digest = ref.partition("@")
    if not digest and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/",
                   "index.docker.io/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return f"{name}@{digest}" if digest else name


def image_producers(exercises: list[Exercise]) -> dict[str, AnyStep]:
    """Map each image the project makes (normalized reference) to the step that makes it."""
    return {normalize_ref(s.tag): s for e in exercises for s in e.steps.values()
            if isinstance(s, (BuildStep, ImportStep))}


def base_producers(step: AnyStep, producers: Mapping[str, AnyStep]) -> list[AnyStep]:
    """The steps that make a build step's FROM images."""
    if not isinstance(step, BuildStep):
        return []
    found = (producers.get(normalize_ref(b)) for b in step.bases)
    return [p for p in found if p is not None]


def dependencies(step: AnyStep, exercise: Exercise,
                 producers: Mapping[str, AnyStep]) -> list[str]:
    """The task names a step needs first: its image step, FROM producers, and `after:`."""
    deps = list(step.after)
    if isinstance(step, (RunStep, PushStep)):
        deps.append(f"{exercise.name}:{step.image}")
    deps += [p.task for p in base_producers(step, producers)]
    return deps


def check_graph(exercises: list[Exercise]) -> None:
    """Reject `after:` entries that name no step, and cycles anywhere in the project."""
    steps = {s.task: s for e in exercises for s in e.steps.values()}
    producers = image_producers(exercises)
    graph: dict[str, list[str]] = {}
    for exercise in exercises:
        for step in exercise.steps.values():
            for ref in step.after:
                if ref not in steps:
                    raise SpecError(step.at("after"),
                                    f"'after' names '{ref}', which is no step.",
                                    did_you_mean(ref, steps))
            graph[step.task] = dependencies(step, exercise, producers)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        cycle = err.args[1]
        first = steps[cycle[0]]
        raise SpecError(Where(first.where.file, first.where.line, first.where.key),
                        "the steps depend on each other in a cycle: " + " -> ".join(cycle) + ".",
                        "Remove one of these references or 'after' entries.") from None
