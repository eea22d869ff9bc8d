"""Just enough Dockerfile reading to know which base images a build starts from.

The build's inputs digest includes each base image's id, and a base that another step makes
(``FROM {registry}/ac295/base:bookworm``) links the two steps in the task graph. Global
``ARG`` defaults and the step's build args are substituted, as ``docker build`` does.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") and not current:
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return [line for line in lines if line]


def _substitute(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        default = match.group(2)
        return values.get(name) or (default or "")
    return _VAR.sub(one, text)


def base_images(dockerfile: Path, build_args: Mapping[str, str]) -> tuple[str, ...]:
    """Return the external images named by FROM lines, in order, without duplicates.

    Stage names (``FROM builder``) and ``scratch`` are left out; so are references that are
    still empty after substitution.
    """
    args: dict[str, str] = {}
    stages: set[str] = set()
    bases: list[str] = []
    seen_from = False
    for line in _logical_lines(dockerfile.read_text(encoding="utf-8")):
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ARG" and not seen_from:
            name, _, default = rest.strip().partition("=")
            args[name.strip()] = build_args.get(name.strip(), default.strip().strip('"'))
        elif word == "FROM":
            seen_from = True
            parts = [p for p in rest.split() if not p.startswith("--")]
            if not parts:
                continue
            image = _substitute(parts[0], args)
            if len(parts) >= 3 and parts[1].lower() == "as":
                stages.add(parts[2].lower())
            if image and image.lower() != "scratch" and image.lower() not in stages \
                    and image not in bases:
                bases.append(image)
    return tuple(bases)
