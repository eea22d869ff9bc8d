"""Typed reads of one YAML mapping of a spec, each error naming the file, the line and the key.

Step kinds parse their keys with these (``tasks.kinds``): ``f.required("tag")``,
``f.texts("commands")``, ``f.path("spec", text, folder)``... Strings are expanded with the
project's variables here, so later layers see final values.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any, Mapping

from ..errors import SpecError, Where, did_you_mean
from . import yamlsrc
from .config import expand

_REF = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
#: Variables whose values are paths on this machine: quoted for the shell in recipes, and
#: left unexpanded where a step's identity must not depend on where the clone lives.
PATH_VARIABLES = ("state", "root")
#: The most a ``timeout:`` may say: a week, in seconds.
MOST_SECONDS = 7 * 24 * 3600
_WORDS: dict[type, str] = {str: "a string", int: "a whole number", float: "a number",
                           dict: "a mapping", list: "a list", bool: "true or false"}


def local_name(name: str, variables: Mapping[str, str]) -> str:
    """A name that stays in this machine's engine (a container, a network), with the
    project's ``local_prefix`` first, so that two copies of the project on one engine
    never share one. A name that starts with it already is kept."""
    prefix = variables.get("local_prefix", "")
    return name if name.startswith(prefix) else prefix + name


def yaml_type(value: Any) -> str:
    """How YAML's user would name a value's type, with the value: ``a list ([1, 2])``."""
    for kind in (bool, str, int, float, dict, list):
        if isinstance(value, kind):
            shown = repr(value if not isinstance(value, (dict, list)) else
                         (dict(value) if isinstance(value, dict) else list(value)))
            if len(shown) > 60:
                shown = shown[:57] + "..."
            return f"{_WORDS[kind]} ({shown})"
    return "nothing" if value is None else f"a {type(value).__name__}"


class Fields:
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
            want = " or ".join(_WORDS.get(k, k.__name__) for k in kinds)
            raise SpecError(self.where(key), f"must be {want}, not {yaml_type(value)}.")
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
                raise SpecError(where, f"must be a string, not {yaml_type(v)}.")
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

    def sub(self, key: str, allowed: tuple[str, ...]) -> "Fields | None":
        value = self.value(key, dict)
        if value is None:
            return None
        fields = Fields(value, self.file, self.key(key), self.variables)
        fields.reject_unknown(allowed)
        return fields

    def positive(self, key: str) -> int | None:
        """A whole number above 0; a ``timeout`` is seconds, at most a week (``MOST``): a
        bigger one is a typo, and the clocks and sockets it reaches overflow."""
        value = self.value(key, int)
        seconds = key == "timeout"
        if value is not None and value <= 0:
            raise SpecError(self.where(key), "must be a positive number"
                            + (" of seconds." if seconds else "."))
        if seconds and value is not None and value > MOST_SECONDS:
            raise SpecError(self.where(key), f"{value} seconds is more than a week.",
                            f"Give at most {MOST_SECONDS} ({MOST_SECONDS // 3600} hours); a "
                            "step that may take longer should be split.")
        return value


    def quoted(self) -> "Fields":
        """The same fields, with {state} and {root} quoted for the shell (a space in a path)."""
        quoted = {**self.variables, **{k: shlex.quote(self.variables[k]) for k in PATH_VARIABLES}}
        return Fields(self.node, self.file, self.prefix, quoted)

    def unexpanded(self) -> "Fields":
        """The same fields, with {state} and {root} left as written (for identities)."""
        return Fields(self.node, self.file, self.prefix,
                      {**self.variables, **{k: "{" + k + "}" for k in PATH_VARIABLES}})

    def command(self, key: str) -> tuple[str, ...] | None:
        """A command: a list of words, or one string split as a shell would."""
        command = self.node.get(key)
        if command is None:
            return None
        if isinstance(command, str):  # `command: python3 x.py` means what a shell would run
            text = self.required(key)
            try:
                words = tuple(shlex.split(text))
            except ValueError as err:  # "No closing quotation", "No escaped character"
                raise SpecError(self.where(key), f"cannot split {text!r} into words as a "
                                f"shell would: {str(err).lower()}.",
                                "Close the quote, or write the command as a list of words: "
                                "[python3, -c, \"print('hi')\"].") from None
        else:
            words = self.texts(key)
        if not words:
            raise SpecError(self.where(key), "the command is empty.",
                            "Leave 'command:' out to run the image's own CMD.")
        return words
