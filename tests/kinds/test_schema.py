"""The JSON Schema of exercise.yml: made from the kinds, committed, met by every exercise, and
in agreement with the parser on good and bad specs (for what a schema can say)."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from helpers import load, write_project
from tasks.errors import SpecError
from tasks.kinds import reference, schema

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "exercise.schema.json"
EXERCISES = sorted((ROOT / "exercises").glob("*/exercise.yml"))
VALIDATOR = jsonschema.Draft202012Validator(schema.schema())


def test_the_committed_schema_is_the_one_the_kinds_make():
    assert COMMITTED.read_text() == schema.text(), \
        f"docs/exercise.schema.json is stale: run {reference.COMMAND}"
    jsonschema.Draft202012Validator.check_schema(json.loads(COMMITTED.read_text()))


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.parent.name)
def test_every_exercise_meets_the_schema_and_names_it(path):
    assert path.read_text().startswith(
        "# yaml-language-server: $schema=../../docs/exercise.schema.json\n")
    errors = list(VALIDATOR.iter_errors(yaml.safe_load(path.read_text())))
    assert errors == [], [e.message for e in errors]


# (steps, as YAML under `steps:`) that both the parser and the schema accept ...
GOOD = [
    "i: {build: ., tag: me/app:1}",
    "i: {build: ., tag: me/app:1, dockerfile: Dockerfile, args: {A: 1}, doc: d, after: [x]}\n"
    "x: {sh: 'true'}",
    "i: {build: ., tag: me/app:1}\nr: {run: i, command: python3 q.py, timeout: 5, "
    "expect: {exit_code: 1, stdout: ok, stderr: [a, b]}}",
    "i: {build: ., tag: me/app:1}\nn: {network: net}\n"
    "s: {run: i, detach: true, network: n, aliases: [db], ports: {80: 8080}, "
    "ready: {log: up, timeout: 9}}",
    "p: {pull: me/app:1}\nc: {commit: p, commands: [ls], tag: me/app:2}\nq: {push: c}",
    "r: {sh: [a, b], deps: [x.txt], targets: [y.txt]}",
    "t: {import: rootfs.tar, tag: me/base:1, changes: ['CMD [\"sh\"]']}",
    "e: {venv: env, spec: requirements.txt}\nw: {wheelhouse: \"{state}/wh\", from_lock: e}",
]
# ... and that both reject: unknown keys, wrong shapes, missing keys, not one kind.
BAD = [
    "i: {build: ., tagg: me/app:1}",  # unknown key
    "i: {build: ., tag: me/app:1, timeout: 5}",  # a key of another kind
    "i: {build: .}",  # tag missing
    "i: {build: ., tag: me/app:1, args: [a]}",  # args is a mapping
    "i: {build: ., tag: me/app:1}\nr: {run: i, timeout: soon}",  # a number
    "i: {build: ., tag: me/app:1}\nr: {run: i, expect: {exitcode: 0}}",  # inside an object
    "i: {build: ., tag: me/app:1}\nr: {run: i, name: db}",  # a service's key on a one-shot
    "i: {build: ., tag: me/app:1}\ns: {run: i, detach: true, expect: {stdout: x}}",
    "i: {build: ., tag: me/app:1, push: i}",  # two kinds
    "i: {tag: me/app:1}",  # no kind
    "c: {commit: i, tag: me/app:2}",  # commands missing
    "w: {wheelhouse: wh}",  # from_lock missing
]
FILES = {"exercises/ex/Dockerfile": "FROM scratch\n",
         "exercises/ex/requirements.txt": "six==1.16.0\n", "exercises/ex/x.txt": ""}


def _spec(steps: str) -> str:
    return "doc: d\nsteps:\n" + "".join(f"  {line}\n" for line in steps.splitlines())


def _schema_accepts(text: str) -> bool:
    return VALIDATOR.is_valid(yaml.safe_load(text))


@pytest.mark.parametrize("steps", GOOD)
def test_good_specs_pass_both(tmp_path, steps):
    text = _spec(steps)
    assert _schema_accepts(text)
    load(write_project(tmp_path, {**FILES, "exercises/ex/exercise.yml": text}))


@pytest.mark.parametrize("steps", BAD)
def test_bad_specs_fail_both(tmp_path, steps):
    text = _spec(steps)
    assert not _schema_accepts(text)
    with pytest.raises(SpecError):
        load(write_project(tmp_path, {**FILES, "exercises/ex/exercise.yml": text}))
