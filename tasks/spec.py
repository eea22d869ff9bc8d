"""Exercise specs: ``exercises/<name>/exercise.yml`` parsed once into frozen, typed objects.

Everything a user can get wrong is caught here, before any task runs: unknown keys (with a
"did you mean"), wrong types, unknown variables, missing files, dangling step references and
cycles. Each error names the file, the line and the key (see ``tasks.errors.SpecError``).
Strings are expanded with the project variables here, so later layers see final values.
The dataclasses themselves live in ``tasks.model``; the edges in ``tasks.edges``.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any, Callable, Mapping

from . import dockerfiles, edges, envspec, yamlsrc
from .config import Config, expand
from .errors import SpecError, Where, did_you_mean
from .model import (COMMON_KEYS, EXPECT_KEYS, IMAGE_KINDS, KIND_KEYS, KINDS, READY_KEYS,
                    SERVICE_KEYS, AnyStep, BuildStep, CommitStep, Exercise, Expect, ImportStep,
                    NetworkStep, PullStep, PushStep, Ready, RunStep, ShStep, Step,
                    VenvStep, WheelhouseStep, normalize_ref)

__all__ = ["SPEC_FILE", "load_project", "load_exercise", "AnyStep", "BuildStep", "CommitStep",
           "Exercise", "Expect", "ImportStep", "NetworkStep", "PullStep", "PushStep", "Ready",
           "RunStep", "ShStep", "Step", "VenvStep", "WheelhouseStep", "KINDS", "normalize_ref"]

SPEC_FILE = "exercise.yml"
#: doit's own commands: a top-level task of that name could never be run.
DOIT_COMMANDS = frozenset({"run", "list", "clean", "info", "help", "forget", "ignore", "auto",
                           "strace", "dumpdb", "reset-dep", "tabcompletion"})
#: Top-level tasks the project defines itself.
PROJECT_TASKS = frozenset({"registry_start", "registry_stop", "lock", "verify"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REF = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def load_project(config: Config) -> list[Exercise]:
    """Load every ``exercises/*/exercise.yml`` and check references and cycles across them.

    Raises:
        SpecError: the first problem found, with file, line and key.
    """
    folders = sorted(p.parent for p in (config.root / "exercises").glob(f"*/{SPEC_FILE}"))
    exercises = [load_exercise(folder / SPEC_FILE, config) for folder in folders]
    edges.check(exercises, config.state)
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
    top = _Fields(data, path, "", config.variables)
    top.reject_unknown(("doc", "steps"))
    doc = top.required("doc")
    steps_node = top.value("steps", dict, required=True)
    if not steps_node:
        raise SpecError(top.where("steps"), "an exercise needs steps.")
    steps: dict[str, AnyStep] = {}
    for step_name, node in steps_node.items():
        where = Where(path, steps_node.line_of(step_name), f"steps.{step_name}")
        if not _NAME.match(step_name):
            raise SpecError(where, f"bad step name '{step_name}'.",
                            "Use letters, digits, '_', '.', '-'.")
        if not isinstance(node, yamlsrc.LDict):
            raise SpecError(where, "a step must be a mapping with one of the keys "
                            + ", ".join(KINDS) + ".")
        try:
            steps[step_name] = _parse_step(name, step_name, node, path, config.variables)
        except (OSError, ValueError) as err:  # a path the OS refuses (too long, a NUL, ...)
            reason = err.strerror if isinstance(err, OSError) else str(err)
            raise SpecError(where, f"a path in this step cannot be used: {reason}.",
                            "Name a plain path inside the exercise folder.") from None
    exercise = Exercise(name=name, doc=doc, folder=path.parent, file=path, steps=steps)
    _check_local_refs(exercise)
    return exercise


class _Fields:
    """Typed reads of one YAML mapping, each error naming file, line and dotted key."""

    def __init__(self, node: yamlsrc.LDict, path: Path, prefix: str,
                 variables: Mapping[str, str]) -> None:
        self.node, self.file, self.prefix, self.variables = node, path, prefix, variables

    def key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def where(self, key: str) -> Where:
        return Where(self.file, self.node.line_of(key), self.key(key))

    def reject_unknown(self, allowed: tuple[str, ...]) -> None:
        for key in self.node:
            if key not in allowed:
                raise SpecError(self.where(key), f"unknown key '{key}'.",
                                did_you_mean(key, allowed))

    def value(self, key: str, kind: type | tuple[type, ...], required: bool = False) -> Any:
        if key not in self.node or self.node[key] is None:
            if required:
                raise SpecError(Where(self.file, self.node.line, self.key(key)),
                                f"missing key '{key}'.")
            return None
        value = self.node[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in kinds):
            names = {str: "a string", int: "a whole number", dict: "a mapping", list: "a list",
                     bool: "true or false"}
            want = " or ".join(names.get(k, k.__name__) for k in kinds)
            raise SpecError(self.where(key),
                            f"must be {want}, not {type(value).__name__} ({value!r}).")
        return value

    def text(self, key: str) -> str | None:
        value = self.value(key, (str, int))
        return None if value is None else expand(str(value), self.variables, self.where(key))

    def required(self, key: str) -> str:
        value = self.value(key, (str, int), required=True)
        return expand(str(value), self.variables, self.where(key))

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.node.get(key)
        if value is None:
            return ()
        items = [value] if isinstance(value, (str, int)) else value
        if not isinstance(items, list) or not all(isinstance(i, (str, int)) for i in items) \
                or any(isinstance(i, bool) for i in items):
            raise SpecError(self.where(key), "must be a string or a list of strings.")
        return tuple(expand(str(i), self.variables, self.where(key)) for i in items)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.value(key, dict) or yamlsrc.LDict()
        out = {}
        for k, v in value.items():
            where = Where(self.file, value.line_of(k), f"{self.key(key)}.{k}")
            if not isinstance(v, (str, int, float)) or isinstance(v, bool):
                raise SpecError(where, f"must be a string, not {type(v).__name__}.")
            out[str(k)] = expand(str(v), self.variables, where)
        return out

    def image_ref(self, key: str, digest_ok: bool = False) -> str:
        """An image reference; ``digest_ok`` allows ``name@sha256:...`` (inputs, not outputs)."""
        ref = self.required(key)
        name = _DIGEST.sub("", ref) if digest_ok else ref
        if not _REF.match(name):
            raise SpecError(self.where(key), f"'{ref}' is not a valid image reference.",
                            "Use lowercase [registry/]name[:tag], e.g. 127.0.0.1:5000/me/app:v1.")
        return ref

    def optional_image_ref(self, key: str) -> str | None:
        return self.image_ref(key) if self.node.get(key) is not None else None

    def regexes(self, key: str) -> tuple[str, ...]:
        raw = self.node.get(key)
        items = [] if raw is None else [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise SpecError(self.where(key), "must be a regular expression or a list of them.")
        expanded = tuple(expand(i, self.variables, self.where(key)) for i in items)
        for pattern in expanded:
            try:
                re.compile(pattern)
            except re.error as err:
                raise SpecError(self.where(key), f"'{pattern}' is not a valid regular "
                                f"expression: {err}.") from None
        return expanded

    def path(self, key: str, text: str, folder: Path) -> Path:
        """A path from the spec, resolved against the exercise folder and confined.

        Only the exercise's own folder and the project's state folder may be named: a spec
        must not reach (or, through `doit clean`, delete) anything else on the machine.
        """
        path = (folder / text).resolve()
        state = Path(self.variables["state"]).resolve()
        if not (path.is_relative_to(folder.resolve()) or path.is_relative_to(state)):
            raise SpecError(self.where(key), f"'{text}' leads outside the exercise folder "
                            f"({path}).", "Name a path inside the exercise's folder, or under "
                            "{state}.")
        return path

    def regex(self, key: str) -> str | None:
        if key in self.node and not isinstance(self.node[key], str):
            raise SpecError(self.where(key), "must be one regular expression (a string).")
        found = self.regexes(key)
        return found[0] if found else None

    def sub(self, key: str, allowed: tuple[str, ...]) -> "_Fields | None":
        value = self.value(key, dict)
        if value is None:
            return None
        fields = _Fields(value, self.file, self.key(key), self.variables)
        fields.reject_unknown(allowed)
        return fields

    def positive(self, key: str) -> int | None:
        value = self.value(key, int)
        if value is not None and value <= 0:
            raise SpecError(self.where(key), "must be a positive number of seconds.")
        return value


def _parse_step(exercise: str, name: str, node: yamlsrc.LDict, path: Path,
                variables: Mapping[str, str]) -> AnyStep:
    f = _Fields(node, path, f"steps.{name}", variables)
    kinds = [k for k in KINDS if k in node]
    if "run" in kinds and "network" in kinds:  # `network:` of a run step names its network
        kinds.remove("network")
    if len(kinds) != 1:
        known = set(COMMON_KEYS).union(*KIND_KEYS.values())
        unknown = [k for k in node if k not in KINDS and k not in known]
        if unknown and not kinds:
            raise SpecError(f.where(unknown[0]), f"unknown key '{unknown[0]}'.",
                            did_you_mean(unknown[0], KINDS))
        found = " and ".join(f"'{k}'" for k in kinds) if kinds else "none"
        raise SpecError(Where(path, node.line, f.prefix), "a step needs exactly one kind, "
                        f"found {found}.", "Each step has exactly one of: "
                        + ", ".join(KINDS) + ".")
    kind = kinds[0]
    f.reject_unknown((kind,) + COMMON_KEYS + KIND_KEYS[kind])
    common: dict[str, Any] = dict(
        exercise=exercise, name=name, where=Where(path, node.line, f.prefix),
        lines=dict(node.key_lines), doc=f.text("doc") or "",
        after=tuple(a if ":" in a else f"{exercise}:{a}" for a in f.texts("after")))
    return _PARSERS[kind](f, common, path.parent)


def _venv(f: _Fields, common: dict[str, Any], folder: Path) -> AnyStep:
    if ("spec" in f.node) == ("from_lock" in f.node):
        raise SpecError(Where(f.file, f.node.line, f.prefix), "a venv step needs either "
                        "'spec:' (requirements.txt or environment.yml) or 'from_lock:' (another "
                        "venv step), not both or neither.")
    spec_file = f.path("spec", f.required("spec"), folder) if "spec" in f.node else None
    if spec_file is not None:
        if not spec_file.is_file():
            raise SpecError(f.where("spec"), f"no file {spec_file}.")
        envspec.load(spec_file)  # its errors are spec errors too: report them now
    path = f.path("venv", f.required("venv"), folder)
    lock = f.text("lock")
    return VenvStep(**common, path=path, spec=spec_file, from_lock=f.text("from_lock"),
                    lock=f.path("lock", lock, folder) if lock else path.with_name(
                        path.name + ".lock"),
                    python=f.text("python") or "python3")


def _wheelhouse(f: _Fields, common: dict[str, Any], folder: Path) -> AnyStep:
    return WheelhouseStep(**common, folder=f.path("wheelhouse", f.required("wheelhouse"), folder),
                          from_lock=f.required("from_lock"))


def _build(f: _Fields, common: dict[str, Any], folder: Path) -> AnyStep:
    context = f.path("build", f.required("build"), folder)
    if not context.is_dir():
        raise SpecError(f.where("build"), f"the build context {context} is not a folder.")
    dockerfile = f.path("dockerfile", str(context / (f.text("dockerfile") or "Dockerfile")),
                        folder)
    if not dockerfile.is_file():
        raise SpecError(f.where("dockerfile" if "dockerfile" in f.node else "build"),
                        f"no Dockerfile at {dockerfile}.",
                        "Add it, or name another file with 'dockerfile:'.")
    args = f.mapping("args")
    try:
        bases = dockerfiles.base_images(dockerfile, args)
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f.where("dockerfile" if "dockerfile" in f.node else "build"),
                        f"cannot read {dockerfile} as UTF-8 text ({err}).") from None
    return BuildStep(**common, context=context, dockerfile=dockerfile,
                     tag=f.image_ref("tag"), args=args, bases=bases)


def _import(f: _Fields, common: dict[str, Any], folder: Path) -> AnyStep:
    if "deps" in f.node and "recipe" not in f.node:
        raise SpecError(f.where("deps"), "'deps' are the inputs of a 'recipe'.",
                        "Add the recipe that makes the tarball, or remove 'deps'.")
    return ImportStep(**common, tarball=f.path("import", f.required("import"), folder),
                      tag=f.image_ref("tag"), changes=f.texts("changes"),
                      recipe=_quoted(f).texts("recipe"),
                      recipe_key=_Fields(f.node, f.file, f.prefix, {
                          **f.variables, "state": "{state}", "root": "{root}"}).texts("recipe"),
                      deps=tuple(f.path("deps", d, folder) for d in f.texts("deps")))


def _quoted(f: _Fields) -> _Fields:
    """The same fields, with {state} and {root} quoted for the shell (a space in a path)."""
    quoted = {**f.variables, **{k: shlex.quote(f.variables[k]) for k in ("state", "root")}}
    return _Fields(f.node, f.file, f.prefix, quoted)


def _pull(f: _Fields, common: dict[str, Any], folder: Path) -> AnyStep:
    return PullStep(**common, ref=f.image_ref("pull", digest_ok=True))


def _commit(f: _Fields, common: dict[str, Any], folder: Path) -> AnyStep:
    commands = f.texts("commands")
    if not commands:
        raise SpecError(f.where("commands"), "a commit step needs 'commands' to run.")
    return CommitStep(**common, image=f.required("commit"), commands=commands,
                      tag=f.image_ref("tag"), timeout=f.positive("timeout") or 1800)


def _run(f: _Fields, common: dict[str, Any], folder: Path) -> AnyStep:
    detach = bool(f.value("detach", bool))
    if not detach:
        for key in SERVICE_KEYS[1:]:
            if key in f.node:
                raise SpecError(f.where(key), f"'{key}' is only for services.",
                                "Add 'detach: true' to run this container as a service.")
    elif "expect" in f.node:
        raise SpecError(f.where("expect"), "a service (detach: true) has no 'expect'.",
                        "Check it with 'ready:' or with a later step.")
    expect = Expect()
    e = f.sub("expect", EXPECT_KEYS)
    if e is not None:
        exit_code = e.value("exit_code", int)
        expect = Expect(exit_code=0 if exit_code is None else exit_code,
                        stdout=e.regexes("stdout"), stderr=e.regexes("stderr"))
    ready = None
    r = f.sub("ready", READY_KEYS)
    if r is not None:
        if not r.node.get("log") and not r.node.get("http"):
            raise SpecError(f.where("ready"), "a readiness probe needs 'log' or 'http'.")
        ready = Ready(log=r.regex("log"), http=r.text("http"),
                      timeout=r.positive("timeout") or 60)
    if "aliases" in f.node and "network" not in f.node:
        raise SpecError(f.where("aliases"), "aliases name a container on a network.",
                        "Add 'network:' (a network step of this exercise).")
    ports = f.mapping("ports")
    for container_port, host_port in ports.items():
        if not container_port.split("/")[0].isdigit() or not host_port.isdigit():
            raise SpecError(f.where("ports"), f"'{container_port}: {host_port}' is not "
                            "'container port: host port' with numbers.")
    command = f.node.get("command")
    if isinstance(command, str):  # `command: python3 x.py` means what a shell would run
        command = tuple(shlex.split(f.required("command")))
    elif command is not None:
        command = f.texts("command")
    return RunStep(**common, image=f.required("run"), command=command, env=f.mapping("env"),
                   expect=expect, timeout=f.positive("timeout") or 300, network=f.text("network"),
                   detach=detach, container=f.text("name"), aliases=f.texts("aliases"), ports=ports,
                   ready=ready)


def _push(f: _Fields, common: dict[str, Any], folder: Path) -> AnyStep:
    return PushStep(**common, image=f.required("push"), tag=f.optional_image_ref("tag"))


def _network(f: _Fields, common: dict[str, Any], folder: Path) -> AnyStep:
    return NetworkStep(**common, network=f.required("network"))


def _sh(f: _Fields, common: dict[str, Any], folder: Path) -> AnyStep:
    commands = _quoted(f).texts("sh")
    if not commands:
        raise SpecError(f.where("sh"), "a recipe needs at least one command.")
    return ShStep(**common, commands=commands,
                  deps=tuple(f.path("deps", d, folder) for d in f.texts("deps")),
                  targets=tuple(f.path("targets", t, folder) for t in f.texts("targets")))


_PARSERS: dict[str, Callable[[_Fields, dict[str, Any], Path], AnyStep]] = {
    "venv": _venv, "wheelhouse": _wheelhouse, "build": _build, "import": _import, "pull": _pull, "commit": _commit, "run": _run,
    "push": _push, "network": _network, "sh": _sh}


def _check_local_refs(exercise: Exercise) -> None:
    def refer(step: AnyStep, key: str, target_name: str, kinds: tuple[str, ...],
              what: str) -> None:
        target = exercise.steps.get(target_name)
        if target is None:
            raise SpecError(step.at(key), f"no step '{target_name}' in this exercise.",
                            did_you_mean(target_name, exercise.steps))
        if target.kind not in kinds:
            raise SpecError(step.at(key), f"step '{target_name}' is a '{target.kind}' step, "
                            f"which makes no {what}.", f"Refer to a {' or '.join(kinds)} step.")

    for step in exercise.steps.values():
        if isinstance(step, (RunStep, PushStep, CommitStep)):
            refer(step, step.kind, step.image, IMAGE_KINDS, "image")
        if isinstance(step, RunStep) and step.network:
            refer(step, "network", step.network, ("network",), "network")
        if isinstance(step, (VenvStep, WheelhouseStep)) and step.from_lock:
            refer(step, "from_lock", step.from_lock, ("venv",), "lock")
