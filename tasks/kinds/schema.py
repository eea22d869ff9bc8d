"""A JSON Schema for exercise.yml, made from the step kinds' declared keys (one source of truth).

Editors that speak the YAML language server complete and check keys with it (each exercise
names it on its first line: ``# yaml-language-server: $schema=../../docs/exercise.schema.json``).
It says what a schema can: the keys, their shapes, the required ones, one kind per step. The
parser says the rest (references to other steps, files that must exist, regexes that must
compile). ``python -m tasks.kinds.reference`` writes it (with the docs' other generated
parts); a test keeps the committed file equal to what this module makes.
"""
from __future__ import annotations

import json
from typing import Any

from . import KINDS
from .base import COMMON_KEYS, Key, KindTable

SCALAR = {"type": ["string", "integer"]}
_NAME = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def key_schema(key: Key) -> dict[str, Any]:
    """The schema of one key's value."""
    shapes: dict[str, dict[str, Any]] = {
        "string": dict(SCALAR),
        "strings": {"anyOf": [SCALAR, {"type": "array", "items": SCALAR}]},
        "command": {"anyOf": [SCALAR, {"type": "array", "items": SCALAR}]},
        "mapping": {"type": "object",
                    "additionalProperties": {"type": ["string", "integer", "number"]}},
        "integer": {"type": "integer"},
        "boolean": {"type": "boolean"},
        "regex": {"type": "string"},
        "regexes": {"anyOf": [{"type": "string"},
                              {"type": "array", "items": {"type": "string"}}]},
        "object": {"type": "object", "additionalProperties": False,
                   "properties": {k.name: key_schema(k) for k in key.keys}},
    }
    return {**shapes[key.type], "description": key.help}


def kind_schema(kind: Any) -> dict[str, Any]:
    """The schema of a step of one kind: its keyword, its keys and the common ones."""
    keys = (kind.keyword, *kind.keys, *COMMON_KEYS)
    properties = {k.name: key_schema(k) for k in keys}
    required = [k.name for k in (kind.keyword, *kind.keys) if k.required]
    kind.schema(properties, required)  # rules of its own (a shared keyword told apart)
    return {"type": "object", "title": kind.name,
            "description": kind.summary, "required": required,
            "additionalProperties": False, "properties": properties}


def schema(kinds: KindTable = KINDS) -> dict[str, Any]:
    """The whole JSON Schema (draft 2020-12) of an exercise.yml."""
    defs = {kind.name: kind_schema(kind) for kind in kinds.written()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://ac295-pipelines/exercise.schema.json",
        "title": "exercise.yml (ac295-pipelines)",
        "description": "An exercise: a doc line and its steps; each step has exactly one kind.",
        "type": "object", "required": ["doc", "steps"], "additionalProperties": False,
        "properties": {
            "doc": {**SCALAR, "description": "one line shown by `doit list`"},
            "steps": {"type": "object", "minProperties": 1,
                      "propertyNames": {"pattern": _NAME},
                      "additionalProperties": {"$ref": "#/$defs/step"}},
        },
        "$defs": {"step": {"oneOf": [{"$ref": f"#/$defs/{name}"} for name in defs]}, **defs},
    }


def text(kinds: KindTable = KINDS) -> str:
    """The schema as the committed file holds it."""
    return json.dumps(schema(kinds), indent=1, sort_keys=True) + "\n"

