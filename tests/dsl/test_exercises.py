"""Loading exercise specs: example projects under tests/data/, valid and broken."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from helpers import DATA, line_of, load, spec_error, write_project
from tasks.kinds.build import BuildStep
from tasks.kinds.expect import Expect
from tasks.kinds.import_ import ImportStep
from tasks.kinds.push import PushStep
from tasks.kinds.run import RunStep
from tasks.kinds.sh import ShStep
from tasks.errors import SpecError
from tasks.dsl.model import Exercise


def spec_file(fixture: str, exercise: str = "ex") -> Path:
    return DATA / fixture / "exercises" / exercise / "exercise.yml"


# --- the valid project ---------------------------------------------------------------------

@pytest.fixture  # per test: a mutant of the parser must reach every test that reads it
def valid() -> dict[str, Exercise]:
    return load(DATA / "valid")


def test_valid_project_exercises_and_kinds(valid):
    assert list(valid) == ["app", "base"]
    assert valid["app"].doc == "App for maggie"
    assert valid["base"].doc == "Base image for maggie"
    assert {n: s.kind for n, s in valid["app"].steps.items()} == \
        {"image": "build", "question": "run", "push": "push"}
    assert {n: s.kind for n, s in valid["base"].steps.items()} == \
        {"rootfs": "sh", "image": "import", "push": "push"}
    assert valid["app"].steps["question"].task == "app:question"


def test_valid_build_step(valid):
    folder = (DATA / "valid" / "exercises" / "app").resolve()
    build = valid["app"].steps["image"]
    assert isinstance(build, BuildStep)
    assert build.context == folder
    assert build.dockerfile == folder / "Dockerfile"
    assert build.tag == "127.0.0.1:5000/maggie/app:v1"
    assert dict(build.args) == {"BASE_IMAGE": "127.0.0.1:5000/ac295/base:v1"}
    # The base comes from the Dockerfile's FROM ${BASE_IMAGE}, with the build arg applied.
    assert build.bases == ("127.0.0.1:5000/ac295/base:v1",)
    assert build.doc == "build the app"
    assert build.where.line == line_of(spec_file("valid", "app"), "doc: build the app")


def test_valid_run_and_push_steps(valid):
    run = valid["app"].steps["question"]
    assert isinstance(run, RunStep)
    assert run.image == "image"
    assert run.command == ("python3", "/app/q.py")
    assert dict(run.env) == {"WHO": "maggie"}
    assert run.expect == Expect(exit_code=0, stdout=(r"^Answer: \d+$",), stderr=())
    assert run.timeout == 30
    push = valid["app"].steps["push"]
    assert isinstance(push, PushStep)
    assert push.tag == "127.0.0.1:5000/maggie/app:latest"
    # `after` is normalized to full task names, local ones prefixed with the exercise.
    assert push.after == ("app:question", "base:push")
    assert valid["base"].steps["push"].tag is None
    assert valid["base"].steps["push"].after == ()


def test_valid_sh_and_import_steps(valid):
    state = (DATA / "valid" / ".state").resolve()
    sh = valid["base"].steps["rootfs"]
    assert isinstance(sh, ShStep)
    assert sh.commands == (f"./rootfs.sh {state}/rootfs.tar",)
    assert sh.deps == ((DATA / "valid" / "exercises" / "base" / "rootfs.sh").resolve(),)
    assert sh.targets == (state / "rootfs.tar",)
    imp = valid["base"].steps["image"]
    assert isinstance(imp, ImportStep)
    assert imp.tarball == state / "rootfs.tar"
    assert imp.tag == "127.0.0.1:5000/ac295/base:v1"
    assert imp.changes == ('CMD ["python3"]',)


def test_steps_are_frozen_and_loading_writes_nothing(valid):
    with pytest.raises(dataclasses.FrozenInstanceError):
        valid["app"].steps["image"].tag = "other:1"  # type: ignore[misc]
    assert not (DATA / "valid" / ".state").exists()


def test_environment_override_reaches_the_specs():
    exercises = load(DATA / "valid", environ={"AC295_HUB_USER": "john"})
    assert exercises["app"].steps["image"].tag == "127.0.0.1:5000/john/app:v1"
    assert exercises["app"].doc == "App for john"


def test_run_defaults(tmp_path):
    root = write_project(tmp_path, {
        "exercises/ex/Dockerfile": "FROM scratch\n",
        "exercises/ex/exercise.yml": """\
            doc: d
            steps:
              image: {build: ., tag: "x/y:1"}
              go: {run: image}
            """})
    run = load(root)["ex"].steps["go"]
    assert (run.command, run.timeout, run.expect) == (None, 300, Expect())


# --- broken projects on disk ---------------------------------------------------------------

def test_unknown_key_names_file_line_key_and_suggests():
    err = spec_error(DATA / "unknown_key")
    path = spec_file("unknown_key")
    assert err.where.file == path
    assert err.where.line == line_of(path, "tagg:")
    assert err.where.key == "steps.image.tagg"
    assert f"{path}:{err.where.line}" in str(err)
    assert "unknown key 'tagg'" in str(err)
    assert "Did you mean 'tag'?" in str(err)


def test_wrong_type():
    err = spec_error(DATA / "wrong_type")
    assert err.where.key == "steps.question.timeout"
    assert err.where.line == line_of(spec_file("wrong_type"), 'timeout: "x"')
    assert "whole number" in str(err) and "'x'" in str(err)


def test_dangling_step_reference():
    err = spec_error(DATA / "dangling_ref")
    assert err.where.file == spec_file("dangling_ref")
    assert err.where.key == "steps.question.run"
    # The line of the `run:` key, not of the step's first key (`doc:`).
    assert err.where.line == line_of(spec_file("dangling_ref"), "run: nosuch")
    assert "no step 'nosuch'" in str(err)


def test_after_naming_no_step():
    err = spec_error(DATA / "after_nosuch")
    assert err.where.key == "steps.second.after[0]"
    assert "'ex:frist'" in str(err)
    assert "Did you mean 'ex:first'?" in str(err)
    assert err.where.line == line_of(spec_file("after_nosuch"), "after: [frist]")


@pytest.mark.parametrize("fixture, steps", [
    ("cycle_from", ["ex:first", "ex:second"]),
    ("cycle_after", ["ex:one", "ex:two", "ex:three"]),
])
def test_cycles(fixture, steps):
    err = spec_error(DATA / fixture)
    assert "cycle" in str(err)
    assert all(s in str(err) for s in steps)
    assert err.where.file == spec_file(fixture)
    assert err.where.key in {"steps." + s.split(":")[1] for s in steps}


def test_missing_dockerfile():
    err = spec_error(DATA / "missing_dockerfile")
    assert err.where.key == "steps.image.build"
    assert err.where.line == line_of(spec_file("missing_dockerfile"), "build: .")
    assert "no Dockerfile at" in str(err) and "dockerfile:" in str(err)


def test_unknown_variable():
    err = spec_error(DATA / "unknown_variable")
    assert err.where.key == "steps.image.tag"
    assert err.where.line == line_of(spec_file("unknown_variable"), "tag:")
    assert "unknown variable '{registy}'" in str(err)
    assert "Did you mean 'registry'?" in str(err)


def test_invalid_yaml():
    err = spec_error(DATA / "invalid_yaml")
    assert err.where.file == spec_file("invalid_yaml")
    assert err.where.line == line_of(spec_file("invalid_yaml"), "tag: [unclosed")
    assert "not valid YAML" in str(err)


def test_duplicate_key():
    err = spec_error(DATA / "duplicate_key")
    path = spec_file("duplicate_key")
    assert err.where.line == line_of(path, "  image:", nth=2)
    assert err.where.key == "image"
    assert f"first on line {line_of(path, '  image:')}" in str(err)


def test_invalid_regex_in_expect():
    err = spec_error(DATA / "bad_regex")
    assert err.where.key == "steps.question.expect.stdout"
    assert err.where.line == line_of(spec_file("bad_regex"), "stdout:")
    assert "not a valid regular expression" in str(err)


def test_folder_named_like_a_doit_command():
    err = spec_error(DATA / "doit_command")
    assert err.where.file == spec_file("doit_command", "list")
    assert "'list'" in str(err) and "doit" in str(err)


# --- smaller broken specs, written on the fly -------------------------------------------

def _one_exercise(tmp_path: Path, body: str, folder: str = "ex") -> SpecError:
    root = write_project(tmp_path, {f"exercises/{folder}/exercise.yml": body,
                                    f"exercises/{folder}/Dockerfile": "FROM scratch\n"})
    return spec_error(root)


@pytest.mark.parametrize("folder", ["run", "clean", "registry_start", "bad name"])
def test_reserved_or_bad_folder_names(tmp_path, folder):
    err = _one_exercise(tmp_path, "doc: d\nsteps:\n  s: {sh: 'true'}\n", folder)
    assert f"'{folder}'" in str(err)


@pytest.mark.parametrize("body, key, line, message", [
    ("doc: d\nsteps:\n  s:\n    buld: .\n", "steps.s.buld", 4, "Did you mean 'build'?"),
    ("doc: d\nsteps:\n  s:\n    sh: 'true'\n    push: x\n", "steps.s", 4,
     "exactly one kind, found 'push' and 'sh'"),
    ("doc: d\nsteps:\n  s: {sh: 'true'}\n  r: {run: s}\n", "steps.r.run", 4, "makes no image"),
    ("doc: d\nsteps:\n  i: {build: ., tag: 'x/y:1'}\n  r:\n    run: i\n"
     "    expect: {exit_code: true}\n", "steps.r.expect.exit_code", 6, "whole number"),
    ("doc: d\nsteps:\n  i: {build: ., tag: 'Maggie/App:1'}\n", "steps.i.tag", 3,
     "not a valid image reference"),
    ("doc: d\nstep:\n  s: {sh: 'true'}\n", "step", 2, "Did you mean 'steps'?"),
    ("doc: d\nsteps: {}\n", "steps", 2, "needs steps"),
])
def test_small_broken_specs(tmp_path, body, key, line, message):
    err = _one_exercise(tmp_path, body)
    assert (err.where.key, err.where.line) == (key, line)
    assert message in str(err)


@pytest.mark.parametrize("folder, shown, suggestion", [
    ("übung", "'ü'", "'ubung'"),
    ("mon exercice", "' '", "'mon-exercice'"),
    ("_x", "'_' is not allowed at the start", "'x'"),
])
def test_folder_names_that_docker_refuses_are_explained(tmp_path, folder, shown, suggestion):
    err = _one_exercise(tmp_path, "doc: d\nsteps:\n  s: {sh: 'true'}\n", folder)
    assert f"the folder name '{folder}' cannot be used: {shown}" in str(err)
    assert "ASCII letters (a-z, A-Z)" in str(err) and f"e.g. {suggestion}" in str(err)
    assert "not letters" not in str(err)


def test_step_names_with_non_ascii_letters_are_explained(tmp_path):
    err = _one_exercise(tmp_path, "doc: d\nsteps:\n  grüße: {sh: 'true'}\n")
    assert err.where.key == "steps.grüße" and err.where.line == 3
    assert "'ü', 'ß' are not allowed" in str(err) and "e.g. 'grusse'" in str(err)


@pytest.mark.parametrize("folder, says", [
    ("lock", "one of the project's own tasks (`script/doit lock`)"),
    ("why", "is a command (`script/doit why`)"),
])
def test_folders_named_like_the_projects_commands(tmp_path, folder, says):
    err = _one_exercise(tmp_path, "doc: d\nsteps:\n  s: {sh: 'true'}\n", folder)
    assert says in str(err) and "Rename the folder" in str(err)


def test_a_reserved_folder_name_is_reported_even_when_its_file_is_broken(tmp_path):
    err = _one_exercise(tmp_path, "doc: [unclosed\n", "lock")
    assert "'lock'" in str(err) and err.where.line == 1


def test_a_huge_timeout_is_refused_with_its_line():
    err = spec_error(DATA / "huge_timeout")
    assert err.where.key == "steps.question.timeout"
    assert err.where.line == line_of(spec_file("huge_timeout"), "timeout: 10000000000")
    assert "10000000000 seconds is more than a week" in str(err) and "604800" in str(err)


@pytest.mark.parametrize("step, key", [
    ("i: {build: ., tag: 'x/y:1'}\n  r: {run: i, timeout: 604801}", "steps.r.timeout"),
    ("p: {pull: 'x/y:1'}\n  c: {commit: p, commands: [ls], tag: 'x/z:1', timeout: 99999999999}",
     "steps.c.timeout"),
    ("i: {build: ., tag: 'x/y:1'}\n  s: {run: i, detach: true, ready: {log: up, "
     "timeout: 10000000000}}", "steps.s.ready.timeout"),
    ("p: {pull: 'x/y:1'}\n  k: {kernel: linux-image-cloud-amd64}\n"
     "  v: {vm: p, kernel: k, timeout: 10000000000}", "steps.v.timeout"),
    ("g: {grade: roster.yml, image: 'x/{student}:1', timeout: 10000000000}", "steps.g.timeout"),
])
def test_every_timeout_is_bounded(tmp_path, step, key):
    root = write_project(tmp_path, {"exercises/ex/exercise.yml": f"doc: d\nsteps:\n  {step}\n",
                                    "exercises/ex/Dockerfile": "FROM scratch\n",
                                    "exercises/ex/roster.yml": "- ana\n"})
    err = spec_error(root)
    assert err.where.key == key and "more than a week" in str(err)


def test_a_week_is_fine_and_memory_is_not_seconds(tmp_path):
    root = write_project(tmp_path, {"exercises/ex/exercise.yml": """\
        doc: d
        steps:
          i: {build: ., tag: 'x/y:1'}
          r: {run: i, timeout: 604800}
        """, "exercises/ex/Dockerfile": "FROM scratch\n"})
    assert load(root)["ex"].steps["r"].timeout == 604800
    err = _one_exercise(tmp_path / "m", "doc: d\nsteps:\n  p: {pull: 'x/y:1'}\n"
                        "  k: {kernel: linux-image-cloud-amd64}\n"
                        "  v: {vm: p, kernel: k, memory: 0}\n")
    assert err.where.key == "steps.v.memory" and "seconds" not in str(err)


@pytest.mark.parametrize("command, problem", [
    ("python3 -c 'print(1)", "no closing quotation"),
    ('python3 x.py \\', "no escaped character"),
])
def test_a_bad_quote_in_command_names_command_and_its_line(tmp_path, command, problem):
    body = f"doc: d\nsteps:\n  i: {{build: ., tag: 'x/y:1'}}\n  r:\n    run: i\n" \
           f"    env: {{A: b}}\n    command: {json.dumps(command)}\n"
    err = _one_exercise(tmp_path, body)
    assert (err.where.key, err.where.line) == ("steps.r.command", 7)
    assert problem in str(err) and "list of words" in str(err)
    assert "path" not in str(err)


def test_the_bad_quote_fixture():
    err = spec_error(DATA / "bad_quote")
    assert err.where.line == line_of(spec_file("bad_quote"), "command:")
    assert err.where.key == "steps.question.command" and "no closing quotation" in str(err)


def test_a_file_that_is_not_utf8_is_reported_at_its_byte():
    err = spec_error(DATA / "not_utf8")
    assert (err.where.file, err.where.line) == (spec_file("not_utf8"), 4)
    assert "byte 0xfc (column 17) is not UTF-8 text" in str(err) and "Save the file" in str(err)


def test_a_dockerfile_that_is_not_utf8_is_reported_at_its_byte():
    err = spec_error(DATA / "not_utf8_dockerfile")
    assert err.where.file == DATA / "not_utf8_dockerfile/exercises/ex/Dockerfile"
    assert err.where.line == 2 and "byte 0xfc (column 4)" in str(err)
    assert "path" not in str(err)


def test_a_requirements_file_that_is_not_utf8(tmp_path):
    root = write_project(tmp_path, {
        "exercises/ex/exercise.yml": "doc: d\nsteps:\n  e: {venv: env, spec: requirements.txt}\n"})
    (root / "exercises/ex/requirements.txt").write_bytes(b"six==1.16.0\n# \xe9\n")
    err = spec_error(root)
    assert err.where.file.name == "requirements.txt" and err.where.line == 2


# --- found by writing exercises as a new user would ------------------------------------------

IMAGE = "i: {build: ., tag: 'me/app:1'}\n  "


@pytest.mark.parametrize("steps, key, message", [
    (IMAGE + "r: {run: i, command: []}", "steps.r.command", "the command is empty"),
    (IMAGE + "r: {run: i, command: '  '}", "steps.r.command", "the command is empty"),
    (IMAGE + "r: {run: i, detach: true, ports: {'80': '99999'}}", "steps.r.ports",
     "with numbers (ports 1 to 65535"),
    (IMAGE + "r: {run: i, detach: true, ports: {'80': '0'}}", "steps.r.ports", "1 to 65535"),
    (IMAGE + "r: {run: i, detach: true, ports: {'80/sctp': '8080'}}", "steps.r.ports",
     "/tcp or /udp"),
    (IMAGE + "r: {run: i, detach: true, ready: {http: 'not a url'}}", "steps.r.ready.http",
     "'not a url' is not a URL to ask"),
    (IMAGE + "r: {run: i, detach: true, name: 'my svc'}", "steps.r.name",
     "'my svc' cannot name a container"),
    ("n: {network: ''}", "steps.n.network", "a network needs a name"),
    ("r: {run: nosuch}", "steps.r.run", "no step that makes an image"),
])
def test_what_docker_would_refuse_is_refused_at_its_line(tmp_path, steps, key, message):
    err = _one_exercise(tmp_path, f"doc: d\nsteps:\n  {steps}\n")
    assert err.where.key == key and message in str(err), str(err)


def test_a_tab_in_the_indentation_is_named():
    err = spec_error(DATA / "tab_indent")
    assert err.where.line == 4 and "not valid YAML" in str(err)
    assert "YAML indents with spaces; this line holds a tab." in str(err)
