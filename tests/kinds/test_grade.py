"""The grade kind: the roster, one step per student, and the checks of a student's image."""
from __future__ import annotations

from pathlib import Path

import pytest

import helpers
from helpers import WHERE, runtime
from tasks.kinds import grade, records
from tasks.kinds.expect import Expect
from tasks.kinds.grade import GradeStep, StudentStep

SPEC = """\
doc: d
steps:
  check:
    grade: {roster}
    image: "{{registry}}/{{student}}/app:1"
    command: [python3, q.py]
    expect: {{stdout: ["^ok$"]}}
"""


def project(root: Path, roster: str, name: str = "roster.yml") -> Path:
    return helpers.write_project(root, {
        f"exercises/ex/{name}": roster,
        "exercises/ex/exercise.yml": SPEC.format(roster=name)},
        "variables:\n  registry: 127.0.0.1:5000\n  hub_user: maggie\n")


@pytest.mark.parametrize("name, roster", [
    ("roster.yml", "students:\n  - '{hub_user}'\n  - lena\n"),
    ("roster.yml", "- maggie\n- lena\n"),
    ("roster.csv", "student,email\nmaggie,m@x\nlena,l@x\n"),
])
def test_a_roster_makes_one_step_per_student_and_the_table(tmp_path, name, roster):
    steps = helpers.load(project(tmp_path, roster, name))["ex"].steps
    assert list(steps) == ["check", "check.maggie", "check.lena"]
    table = steps["check"]
    assert isinstance(table, GradeStep) and table.students == ("maggie", "lena")
    student = steps["check.lena"]
    assert isinstance(student, StudentStep)
    assert (student.student, student.ref, student.command, student.expect) == \
        ("lena", "127.0.0.1:5000/lena/app:1", ("python3", "q.py"), Expect(stdout=("^ok$",)))
    state = (tmp_path / ".ac295").resolve()
    assert table.records == (records.path_in(state, "ex:check.maggie"),
                             records.path_in(state, "ex:check.lena"))


@pytest.mark.parametrize("roster, line, words", [
    ("students:\n  - lena\n  - Lena Smith\n", 3, "cannot name"),
    ("- lena\n- lena\n", 2, "twice"),
    ("students: lena\n", 1, "list of names"),
    ("students: []\n", 1, "no student"),
])
def test_a_bad_roster_names_its_line(tmp_path, roster, line, words):
    err = helpers.spec_error(project(tmp_path, roster))
    assert err.where.file.name == "roster.yml" and err.where.line == line
    assert words in str(err)


def test_the_image_must_name_the_student(tmp_path):
    root = project(tmp_path, "- lena\n")
    spec = root / "exercises/ex/exercise.yml"
    spec.write_text(spec.read_text().replace("{student}", "everyone"))
    assert "{student}" in str(helpers.spec_error(root))


def test_a_student_step_may_not_clash_with_a_written_step(tmp_path):
    root = project(tmp_path, "- lena\n")
    spec = root / "exercises/ex/exercise.yml"
    spec.write_text(spec.read_text() + '  check.lena: {sh: "true"}\n')
    assert "has the name of another step" in str(helpers.spec_error(root))


def student(tmp_path: Path) -> StudentStep:
    return StudentStep(exercise="ex", name="check.lena", doc="", after=(), where=WHERE,
                       student="lena", ref="127.0.0.1:5000/lena/app:1", command=None,
                       expect=Expect(), timeout=60)


@pytest.mark.parametrize("graded, served, fresh", [
    ("sha256:a", "sha256:a", True), ("sha256:a", "sha256:b", False),
    (None, None, True),  # still missing: nothing to grade again
    (None, "sha256:b", False),  # pushed since
    ("sha256:a", None, False),  # gone since
])
def test_a_student_is_graded_again_only_when_the_digest_moved(tmp_path, monkeypatch, graded,
                                                             served, fresh):
    rt, _ = runtime(tmp_path)
    step = student(tmp_path)
    assert not grade.uptodate(rt, step).fresh  # never graded
    records.write(rt.record_path(step.task), {"student": "lena", "digest": graded,
                                              "status": "passed", "reason": ""})
    monkeypatch.setattr(type(rt), "served_digest", lambda self, ref: served)
    assert grade.uptodate(rt, step).fresh is fresh


def test_the_table_lists_every_student_with_its_node(tmp_path):
    rt, _ = runtime(tmp_path)
    state = rt.config.state
    table = GradeStep(exercise="ex", name="check", doc="", after=(), where=WHERE,
                      roster=tmp_path / "r.yml", students=("ana", "ben"), image="x/{student}:1",
                      command=None, expect=Expect(), timeout=60,
                      records=(rt.record_path("ex:check.ana"), rt.record_path("ex:check.ben")),
                      table=state / "ex" / "check")
    records.write(table.records[0], {"student": "ana", "digest": "sha256:a",
                                     "status": "passed", "reason": ""})
    records.write(records.local_of(table.records[0]), {"node": "node-2"})
    records.write(table.records[1], {"student": "ben", "digest": None, "status": "missing",
                                     "reason": "no image x/ben:1 in the registry"})
    grade.table(rt, table)
    assert (table.table / "results.csv").read_text().splitlines() == [
        "student,digest,result,reason,node", "ana,sha256:a,passed,,node-2",
        "ben,,missing,no image x/ben:1 in the registry,"]
    assert "| ana | sha256:a | passed |  | node-2 |" in (table.table / "results.md").read_text()
