"""Compose files at the edge: the schema (with lines), ``${NAME}`` interpolation, durations,
env files and commands. Expected values are written by hand, from the Compose
Specification's rules and what docker-compose 1.29 does with the same text."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tasks.dsl import compose
from tasks.errors import SpecError, Where

W = Where(Path("/p/docker-compose.yml"), 7, "services.api.image")
VARIABLES = {"A": "1", "EMPTY": "", "PORT": "8180"}


@pytest.mark.parametrize("text, value", [
    ("$A", "1"),
    ("${A}", "1"),
    ("x${A}y$A.z", "x1y1.z"),
    ("${MISSING:-fallback}", "fallback"),
    ("${MISSING-fallback}", "fallback"),
    ("${EMPTY:-fallback}", "fallback"),  # ':-' also replaces an empty value
    ("${EMPTY-fallback}", ""),  # '-' only a missing one
    ("${A:-fallback}", "1"),
    ("${MISSING:-}", ""),
    ("$$A", "$A"),  # $$ is a dollar sign
    ("$${A}", "${A}"),
    ("127.0.0.1:${PORT:-8083}:8080", "127.0.0.1:8180:8080"),
    ("${A:?must be set}", "1"),
    ("no dollars", "no dollars"),
])
def test_interpolation(text, value):
    assert compose.interpolate(text, VARIABLES, W) == value


@pytest.mark.parametrize("text, said", [
    ("${MISSING}", "${MISSING} has no value and no default"),
    ("$MISSING", "${MISSING} has no value and no default"),
    ("${MISSING:?the base image}", "${MISSING} has no value: the base image"),
    ("${EMPTY:?needed}", "${EMPTY} has no value: needed"),
    ("${MISSING?}", "${MISSING} has no value: it is required"),
    ("cost: 5$", "names no variable"),
    ("${1A}", "is not a variable"),
    ("${A B}", "is not a variable"),
])
def test_interpolation_errors_name_the_place(text, said):
    with pytest.raises(SpecError) as info:
        compose.interpolate(text, VARIABLES, W)
    assert str(info.value).startswith("/p/docker-compose.yml:7 (key 'services.api.image'): ")
    assert said in str(info.value)


def test_the_environment_is_never_read(monkeypatch):
    monkeypatch.setenv("FROM_THE_SHELL", "x")
    with pytest.raises(SpecError):
        compose.interpolate("${FROM_THE_SHELL}", {}, W)


@pytest.mark.parametrize("text, seconds", [
    ("1s", 1.0), ("500ms", 0.5), ("1m30s", 90.0), ("2h", 7200.0), ("1.5s", 1.5),
    ("250us", 0.00025),
])
def test_durations(text, seconds):
    assert compose.duration(text, W) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "1 s", "s", "1d", "1s2", "-1s"])
def test_bad_durations(text):
    with pytest.raises(SpecError, match="is not a duration"):
        compose.duration(text, W)


def test_words_split_a_string_as_a_shell_does():
    assert compose.words("python3 -c 'print(1)'", W) == ("python3", "-c", "print(1)")
    assert compose.words(["a b", "c"], W) == ("a b", "c")
    with pytest.raises(SpecError, match="cannot split"):
        compose.words("echo 'unclosed", W)


def test_env_file(tmp_path):
    path = tmp_path / "api.env"
    path.write_text("# settings\n\nDB_URL=http://db:8081\nQUOTED=\"a b\"\nSINGLE='x'\n"
                    "export EXPORTED=1\nEQUALS=a=b\nEMPTY=\nDOLLAR=$HOME\n")
    assert compose.env_file(path, W) == {"DB_URL": "http://db:8081", "QUOTED": "a b",
                                         "SINGLE": "x", "EXPORTED": "1", "EQUALS": "a=b",
                                         "EMPTY": "", "DOLLAR": "$HOME"}


@pytest.mark.parametrize("line", ["JUST_A_NAME", "1X=2", "=value"])
def test_env_file_lines_without_a_value_are_errors_at_their_line(tmp_path, line):
    path = tmp_path / "api.env"
    path.write_text(f"A=1\n# comment\n{line}\n")
    with pytest.raises(SpecError) as info:
        compose.env_file(path, W)
    assert str(info.value).startswith(f"{path}:3: ")


def test_env_file_that_cannot_be_read(tmp_path):
    with pytest.raises(SpecError, match="cannot read the env file"):
        compose.env_file(tmp_path / "missing.env", W)


# --- the schema, with lines --------------------------------------------------------------------

def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "docker-compose.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_valid_file_is_loaded_with_lines_and_interpolated(tmp_path):
    path = write(tmp_path, """\
        services:
          web:
            image: "${IMAGE}"
            ports: ["127.0.0.1:${PORT}:80"]
        """)
    data = compose.load(path, {"IMAGE": "nginx", "PORT": "8180"})
    assert data["services"]["web"]["image"] == "nginx"
    assert data["services"]["web"]["ports"] == ["127.0.0.1:8180:80"]
    assert data["services"]["web"].line_of("ports") == 4
    assert data["services"]["web"]["ports"].item_lines == [4]


@pytest.mark.parametrize("text, line, key, said", [
    ("services:\n  web:\n    image: x\n    bogus: 1\n", 4, "services.web.bogus",
     "'bogus' is not a key of the Compose Specification here"),
    ("services:\n  web:\n    image: x\n    ports:\n      - {target: 80, bogus: 1}\n", 5,
     "services.web.ports.0.bogus", "'bogus'"),
    ("services:\n  web:\n    image: x\n    healthcheck:\n      retries: many\n", 5,
     "services.web.healthcheck.retries", "'many' is not of type 'number'"),
    ("services:\n  web:\n    build: {context: ., target: 1}\n", 3, "services.web.build.target",
     "1 is not of type 'string'"),
    ("services:\n  web:\n    image: x\nsurprise: {}\n", 4, "surprise", "'surprise'"),
    ("services:\n  bad name:\n    image: x\n", 2, "services.bad name", "'bad name'"),
    ("services:\n  web:\n    image: x\n    depends_on:\n      db: {condition: sometimes}\n", 5,
     "services.web.depends_on.db.condition", "'sometimes' is not one of"),
])
def test_schema_errors_name_line_and_key(tmp_path, text, line, key, said):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        compose.load(path, {})
    message = str(info.value)
    assert message.startswith(f"{path}:{line} (key '{key}'): not a valid compose file: "), message
    assert said in message
    assert "\n" not in message


def test_a_misspelt_key_gets_a_suggestion(tmp_path):
    path = write(tmp_path, "services:\n  web:\n    image: x\n    enviroment: {A: b}\n")
    with pytest.raises(SpecError) as info:
        compose.load(path, {})
    assert str(info.value) == (f"{path}:4 (key 'services.web.enviroment'): not a valid compose "
                               "file: 'enviroment' is not a key of the Compose Specification "
                               "here. Did you mean 'environment'?")


def test_not_a_mapping(tmp_path):
    with pytest.raises(SpecError, match="is a mapping with 'services:'"):
        compose.load(write(tmp_path, "- a list\n"), {})


def test_not_yaml(tmp_path):
    with pytest.raises(SpecError) as info:
        compose.load(write(tmp_path, "services:\n  web: [\n"), {})
    assert "not valid YAML" in str(info.value)


def test_the_vendored_schema_is_the_compose_specification():
    schema = json.loads(compose.SCHEMA_FILE.read_text())
    assert schema["title"] == "Compose Specification"
    assert {"services", "networks", "volumes", "secrets", "configs"} <= set(schema["properties"])
    assert "privileged" in schema["definitions"]["service"]["properties"]
