"""Environment specs: a pip ``requirements.txt`` or a conda-style ``environment.yml``.

The lecture's Maggie and John share an ``environment.yml``; here it drives a virtualenv, so only
its pip part can be honoured: ``python=3.x`` pins the interpreter's version, ``pip`` itself is
accepted, ``pip:`` lists the packages, and any other conda package is an error that says how to
move it under ``pip:``. Every problem names the file, the line and the key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import yamlsrc
from .yamlsrc import read_utf8
from ..errors import SpecError, Where, did_you_mean

ENV_KEYS = ("name", "channels", "dependencies", "prefix")
_PYTHON = re.compile(r"^python\s*(=|==)\s*(?P<version>\S+)$")
_VERSION = re.compile(r"^(?P<major>\d+)\.(?P<minor>\d+)(\.(\d+|\*))?$")
_CONDA = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)\s*(?:(?P<op>==?|>=|<=|>|<)\s*(?P<ver>\S+))?$")


@dataclass(frozen=True)
class EnvSpec:
    """What an environment must hold.

    Attributes:
        source: the file it came from.
        python: "major.minor" the interpreter must have, or None for any.
        requirements: pip requirement strings, in file order.
        name: the environment's name (environment.yml only).
    """

    source: Path
    python: str | None
    requirements: tuple[str, ...]
    name: str | None = None


def load(path: Path) -> EnvSpec:
    """Read a requirements.txt or an environment.yml (by extension).

    Raises:
        SpecError: unknown key, conda-only package, unparsable version or requirement.
    """
    if path.suffix in (".yml", ".yaml"):
        return _load_environment(path)
    return _load_requirements(path)


def _requirement(text: str, where: Where) -> str:
    try:
        from packaging.requirements import InvalidRequirement, Requirement  # only on a parse

        Requirement(text)
    except InvalidRequirement as err:
        raise SpecError(where, f"'{text}' is not a pip requirement: {err}.",
                        "Write it as name==version, e.g. six==1.16.0.") from None
    return text


def _load_requirements(path: Path) -> EnvSpec:
    lines = read_utf8(path).splitlines()
    found = []
    for number, raw in enumerate(lines, 1):
        text = raw.split(" #", 1)[0].strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("-"):
            raise SpecError(Where(path, number), f"pip options ('{text}') are not supported "
                            "here.", "List one requirement per line; the lock pins them.")
        found.append(_requirement(text, Where(path, number)))
    return EnvSpec(source=path, python=None, requirements=tuple(found))


def _load_environment(path: Path) -> EnvSpec:
    data = yamlsrc.load(path)
    if not isinstance(data, yamlsrc.LDict):
        raise SpecError(Where(path, 1), "an environment.yml is a mapping with 'name' and "
                        "'dependencies'.")
    for key in data:
        if key not in ENV_KEYS:
            raise SpecError(Where(path, data.line_of(key), key), f"unknown key '{key}'.",
                            did_you_mean(key, ENV_KEYS))
    deps = data.get("dependencies")
    if not isinstance(deps, yamlsrc.LList):
        raise SpecError(Where(path, data.line_of("dependencies"), "dependencies"),
                        "must be a list (python=3.x, pip, and a 'pip:' list).")
    python, requirements = None, []
    for index, item in enumerate(deps):
        where = Where(path, deps.item_lines[index], f"dependencies[{index}]")
        if isinstance(item, yamlsrc.LDict):
            for key in item:
                if key != "pip":
                    raise SpecError(Where(path, item.line_of(key), f"dependencies.{key}"),
                                    f"unknown key '{key}'.", "Only a 'pip:' list may stand here.")
            pips = item.get("pip")
            if not isinstance(pips, yamlsrc.LList):
                raise SpecError(Where(path, item.line_of("pip"), "dependencies.pip"),
                                "must be a list of pip requirements.")
            for n, req in enumerate(pips):
                req_where = Where(path, pips.item_lines[n], f"dependencies.pip[{n}]")
                if not isinstance(req, str):
                    raise SpecError(req_where, "must be a pip requirement string.")
                requirements.append(_requirement(req, req_where))
            continue
        if not isinstance(item, str):
            raise SpecError(where, "must be a package string or a 'pip:' list.")
        text = item.strip()
        if text == "pip" or text.startswith("pip=") or text.startswith("pip "):
            continue  # the environment's own pip: a virtualenv always has one
        match = _PYTHON.match(text)
        if match or text == "python":
            python = _python_version(match.group("version"), where) if match else None
            continue
        conda = _CONDA.match(text)
        name = conda.group("name") if conda else text
        suggestion = f"{name}=={conda.group('ver')}" if conda and conda.group("ver") else name
        raise SpecError(where, f"'{text}' is a conda package: only pip packages are supported "
                        "(the environment is a virtualenv).",
                        f"Move it under 'pip:' as '{suggestion}' if PyPI has it.")
    name = data.get("name")
    return EnvSpec(source=path, python=python, requirements=tuple(requirements),
                   name=str(name) if name is not None else None)


def _python_version(text: str, where: Where) -> str:
    match = _VERSION.match(text)
    if not match:
        raise SpecError(where, f"cannot read the Python version '{text}'.",
                        "Write python=3.11 (major.minor, optionally .patch or .*).")
    return f"{match.group('major')}.{match.group('minor')}"
