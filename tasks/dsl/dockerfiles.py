"""Just enough Dockerfile reading to know which images a build reads, and what it copies.

A build reads the images of its ``FROM`` lines and of its ``COPY --from=<image>`` lines. Each
one's content identity is part of the build's inputs digest, and one that another step makes
(``FROM {registry}/ac295/base:bookworm``) links the two steps in the task graph. Global ``ARG``
defaults and the step's build args are substituted in ``FROM``, as ``docker build`` does.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Mapping

from ..errors import SpecError, Where
from .yamlsrc import read_utf8

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _logical_lines(text: str) -> list[str]:
    """Join continuation lines; comment and empty lines are skipped, inside one too."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1]
            continue
        lines.append(current + stripped)
        current = ""
    if current.strip():
        lines.append(current)
    return lines


def _substitute(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        default = match.group(2)
        return values.get(name) or (default or "")
    return _VAR.sub(one, text)


def _words(text: str) -> list[str]:
    """Split ``ARG A=x B='y z'`` as Docker does: shell-like words, quotes removed."""
    try:
        return shlex.split(text, comments=False)
    except ValueError:  # an unbalanced quote: take the words as they are
        return text.split()


def base_images(dockerfile: Path, build_args: Mapping[str, str]) -> tuple[str, ...]:
    """Return the external images a Dockerfile reads, in order, without duplicates.

    That is the images of ``FROM`` lines and of ``COPY --from=`` flags. Stage names (``FROM
    builder``, ``--from=builder``), stage numbers (``--from=0``) and ``scratch`` are left out;
    so are references that are still empty after substitution.

    Raises:
        SpecError: the Dockerfile has no FROM line (an empty one, say), or is not UTF-8.
    """
    args: dict[str, str] = {}
    stages: set[str] = set()
    images: list[str] = []
    seen_from = False

    def add(image: str) -> None:
        if image and image.lower() != "scratch" and image.lower() not in stages \
                and not image.isdigit() and image not in images:
            images.append(image)

    for line in _logical_lines(read_utf8(dockerfile)):
        parts = line.split(None, 1)
        word, rest = parts[0].upper(), (parts[1] if len(parts) > 1 else "")
        if word == "ARG" and not seen_from:
            for item in _words(rest):
                name, _, default = item.partition("=")
                args[name] = build_args.get(name, default)
        elif word == "FROM":
            seen_from = True
            words = [p for p in rest.split() if not p.startswith("--")]
            if not words:
                continue
            image = _substitute(words[0], args)
            add(image)
            if len(words) >= 3 and words[1].lower() == "as":
                stages.add(words[2].lower())
        elif word == "COPY":
            for flag in rest.split():
                if not flag.startswith("--"):
                    break
                if flag.lower().startswith("--from="):
                    add(flag.split("=", 1)[1].strip("'\""))
    if not seen_from:  # Docker would say little more than "cannot be empty"
        raise SpecError(Where(dockerfile, 1), "the Dockerfile has no FROM line"
                        + (" (it is empty)." if not read_utf8(dockerfile).strip() else "."),
                        "A Dockerfile starts FROM an image: FROM ${BASE_IMAGE} with "
                        "args: {BASE_IMAGE: \"{base_image}\"} in the step, or FROM scratch.")
    return tuple(images)


def copies_whole_context(dockerfile: Path) -> bool:
    """True if an ADD or COPY (from the context) copies ``.`` or a glob, which may take in
    ``.dockerignore`` itself: then its bytes are part of what the image holds."""
    for line in _logical_lines(read_utf8(dockerfile)):
        parts = line.split(None, 1)
        if parts[0].upper() not in ("ADD", "COPY") or len(parts) < 2:
            continue
        words = _words(parts[1])
        if any(w.lower().startswith("--from=") for w in words):
            continue
        sources = [w for w in words if not w.startswith("--")][:-1]
        if any(src in (".", "./") or any(c in src for c in "*?[") for src in sources):
            return True
    return False
