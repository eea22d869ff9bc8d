"""Compose files, read at the edge: YAML with lines, the Compose Specification's JSON Schema,
``${NAME}`` interpolation, and the small value languages inside (durations, env files,
commands).

The schema (``compose_spec.json`` beside this module) is the one Debian's docker-compose
1.29 ships as ``compose/config/compose_spec.json`` (the Compose Specification, Apache-2.0),
and is checked the way docker-compose checks it (JSON Schema draft 4). What the project
does with a valid file, and which of its keys it refuses, is the compose kind's business
(``tasks.kinds.compose``). Pure: reads the files it is given, touches nothing else.
"""
from __future__ import annotations

import difflib
import functools
import json
import re
import shlex
from pathlib import Path
from typing import Any, Mapping

from ..errors import SpecError, Where
from . import yamlsrc

SCHEMA_FILE = Path(__file__).with_name("compose_spec.json")
_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*)|"
                       r"{(?P<braced>[^}]*)}|(?P<invalid>))")
_BRACED = re.compile(r"^(?P<name>[_a-zA-Z][_a-zA-Z0-9]*)(?:(?P<op>:?[-?])(?P<arg>.*))?$",
                     re.DOTALL)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def load(path: Path, variables: Mapping[str, str]) -> yamlsrc.LDict:
    """A compose file, validated against the Compose Specification and interpolated.

    Args:
        path: the compose file.
        variables: the values of ``${NAME}`` (nothing comes from the environment).

    Raises:
        SpecError: not YAML, not valid against the schema, or an interpolation that cannot
            be done, with the file, the line and the key.
    """
    data = yamlsrc.load(path)
    if not isinstance(data, yamlsrc.LDict):
        raise SpecError(Where(path, 1), "a compose file is a mapping with 'services:'.")
    validate(data, path)
    result = _interpolate(data, variables, path, 1, "")
    assert isinstance(result, yamlsrc.LDict)
    return result


def validate(data: yamlsrc.LDict, path: Path) -> None:
    """Check a compose file against the Compose Specification's JSON Schema.

    Raises:
        SpecError: the most relevant violation, at its line and key.
    """
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    if error is None:
        return
    keys = [str(k) for k in error.absolute_path]
    problem = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties") or {})
        patterns = list(error.schema.get("patternProperties") or {})
        extra = [k for k in error.instance if k not in allowed
                 and not any(re.search(p, str(k)) for p in patterns)]
        if extra:
            keys.append(str(extra[0]))
            problem = f"'{extra[0]}' is not a key of the Compose Specification here"
            close = difflib.get_close_matches(str(extra[0]), sorted(allowed), n=1)
            if close:
                raise SpecError(where_of(data, keys, path), f"not a valid compose file: "
                                f"{problem}.", f"Did you mean '{close[0]}'?")
    elif len(problem) > 160:
        problem = problem[:157] + "..."
    raise SpecError(where_of(data, keys, path), f"not a valid compose file: {problem}.",
                    "See the Compose Specification (compose_spec.json).")


def where_of(data: Any, keys: list[str], path: Path) -> Where:
    """The line of a key path (``["services", "api", "ports", "0"]``) in a loaded file."""
    line, node = getattr(data, "line", 1) or 1, data
    for key in keys:
        if isinstance(node, yamlsrc.LDict) and key in node:
            line, node = node.line_of(key), node[key]
        elif isinstance(node, yamlsrc.LList) and key.isdigit() and int(key) < len(node):
            line, node = node.item_lines[int(key)], node[int(key)]
        else:
            break
    return Where(path, line, ".".join(keys))


def _interpolate(value: Any, variables: Mapping[str, str], path: Path, line: int,
                 key: str) -> Any:
    if isinstance(value, yamlsrc.LDict):
        out = yamlsrc.LDict()
        out.line, out.key_lines = value.line, dict(value.key_lines)
        for k, v in value.items():
            out[k] = _interpolate(v, variables, path, value.line_of(k),
                                  f"{key}.{k}" if key else k)
        return out
    if isinstance(value, yamlsrc.LList):
        items = yamlsrc.LList(_interpolate(v, variables, path, n, f"{key}.{i}")
                              for i, (v, n) in enumerate(zip(value, value.item_lines)))
        items.line, items.item_lines = value.line, list(value.item_lines)
        return items
    if isinstance(value, str) and "$" in value:
        return interpolate(value, variables, Where(path, line, key))
    return value


def interpolate(text: str, variables: Mapping[str, str], where: Where) -> str:
    """``$NAME``, ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``, ``${NAME:?error}``,
    ``${NAME?error}`` and ``$$`` (a dollar), as docker-compose reads them.

    Raises:
        SpecError: a malformed ``$``, or a variable without a value or a default.
    """
    def one(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("invalid") is not None and match.group("named") is None \
                and match.group("braced") is None:
            raise SpecError(where, f"'{text}' has a '$' that names no variable.",
                            "Write $$ for a dollar sign.")
        named = match.group("named")
        if named is not None:
            return _value(named, None, "", variables, where)
        parsed = _BRACED.match(match.group("braced"))
        if parsed is None:
            raise SpecError(where, f"'${{{match.group('braced')}}}' is not a variable "
                            "(${NAME}, ${NAME:-default}, ${NAME:?message}).")
        return _value(parsed.group("name"), parsed.group("op"), parsed.group("arg") or "",
                      variables, where)

    return _VARIABLE.sub(one, text)


def _value(name: str, op: str | None, arg: str, variables: Mapping[str, str],
           where: Where) -> str:
    value = variables.get(name)
    unset = value is None or (op is not None and op.startswith(":") and value == "")
    if op in (":-", "-") and unset:
        return arg
    if op in (":?", "?") and unset:
        raise SpecError(where, f"${{{name}}} has no value: {arg or 'it is required'}.",
                        f"Give it in the compose step's 'variables:' ({name}: ...).")
    if value is None:
        raise SpecError(where, f"${{{name}}} has no value and no default.",
                        f"Give it in the compose step's 'variables:' ({name}: ...), or write "
                        f"${{{name}:-default}}.")
    return value


def duration(text: Any, where: Where) -> float:
    """Seconds of a compose duration: ``1m30s``, ``500ms``, ``2s``."""
    spelled = str(text).strip()
    parts = _DURATION.findall(spelled)
    if not parts or "".join(n + u for n, u in parts) != spelled:
        raise SpecError(where, f"'{text}' is not a duration.", "Write it like 2s, 500ms or "
                        "1m30s.")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def words(value: Any, where: Where) -> tuple[str, ...]:
    """A command: a list of words, or one string split as a shell would (as docker-compose)."""
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as err:
            raise SpecError(where, f"cannot split '{value}' into words: {err}.") from None
    return tuple(str(v) for v in value)


def env_file(path: Path, where: Where) -> dict[str, str]:
    """``KEY=VALUE`` lines of an env file (``#`` comments and blank lines skipped, one pair
    of quotes around a value removed, nothing interpolated).

    Raises:
        SpecError: the file cannot be read, or a line is not ``KEY=VALUE`` (with its line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(where, f"cannot read the env file {path}: {err}.") from None
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.removeprefix("export ").partition("=")
        key = key.strip()
        if not equals or not re.fullmatch(r"[_a-zA-Z][_a-zA-Z0-9.]*", key):
            raise SpecError(Where(path, number), f"'{raw}' is not KEY=VALUE.",
                            "Give each variable its value; nothing comes from the "
                            "environment.")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[key] = value
    return found
