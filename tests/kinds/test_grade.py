"""The grade kind: the roster, one step per student, and the checks of a student's image."""
from __future__ import annotations

from pathlib import Path

import pytest

import helpers
from helpers import WHERE, runtime
from tasks.engine import containers
from tasks.engine.containers import Outcome
from tasks.errors import EngineError, RegistryError, RunLimit
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


@pytest.mark.parametrize("graded, served, fresh, words", [
    ("sha256:" + "a" * 64, "sha256:" + "a" * 64, True,
     "the registry still serves the graded aaaaaaaaaaaa"),
    ("sha256:" + "a" * 64, "sha256:" + "b" * 64, False,
     "lena's image is now bbbbbbbbbbbb, the graded aaaaaaaaaaaa"),
    (None, None, True, "the registry still has no image 127.0.0.1:5000/lena/app:1"),
    (None, "sha256:" + "b" * 64, False, "lena's image is now bbbbbbbbbbbb, missing when graded"),
    ("sha256:" + "a" * 64, None, False,
     "lena's image is gone from the registry, the graded aaaaaaaaaaaa"),
])
def test_the_reasons_name_both_digests_or_say_there_is_none(tmp_path, monkeypatch, graded,
                                                            served, fresh, words):
    rt, _ = runtime(tmp_path)
    step = student(tmp_path)
    records.write(rt.record_path(step.task), {"student": "lena", "digest": graded,
                                              "status": "passed", "reason": ""})
    monkeypatch.setattr(type(rt), "served_digest", lambda self, ref: served)
    verdict = grade.uptodate(rt, step)
    assert (verdict.fresh, verdict.reason) == (fresh, words)


DIGEST = "sha256:" + "d" * 64


def graded(tmp_path, monkeypatch, served=DIGEST, pulled=None, ran=None) -> dict:
    """Grade lena with the registry serving ``served``, the pull doing ``pulled`` (an error
    to raise, or None) and the run ``ran`` (an Outcome, or an error to raise); her record."""
    rt, _ = runtime(tmp_path)
    step = student(tmp_path)
    monkeypatch.setattr(type(rt), "served_digest", lambda self, ref: served)

    def pull(engine, ref, progress):
        assert ref == f"127.0.0.1:5000/lena/app@{served}"  # by digest, the one graded
        if pulled is not None:
            raise pulled
        return "sha256:" + "1" * 64

    def run_once(engine, image_id, command, env, timeout, labels, task, progress, isolation):
        assert (image_id, timeout, isolation) == ("sha256:" + "1" * 64, 60,
                                                  containers.Isolation())
        if isinstance(ran, BaseException):
            raise ran
        return ran

    monkeypatch.setattr(grade.registry, "pull", pull)
    monkeypatch.setattr(grade.containers, "run_once", run_once)
    grade.grade(rt, step)
    record = records.read(rt.record_path(step.task))
    assert record is not None
    return {k: record[k] for k in ("digest", "status", "reason")}


@pytest.mark.parametrize("pulled, ran, status, reason", [
    (None, Outcome(0, "Answer: 1\n", ""), "passed", ""),
    (None, Outcome(3, "", "Traceback ...\n"), "failed", "exit code 3, expected 0"),
    (None, Outcome(1, "", "OSError: [Errno 30] Read-only file system: '/app/x'\n"), "failed",
     "exit code 1, expected 0; (its root file system is read-only)"),
    (None, Outcome(0, "", "Read-only file system"), "passed", ""),  # not asked: no hint
    (None, RunLimit("ex:check.lena: ... within 60 s", "timed out: still running after 60 s"),
     "failed", "timed out: still running after 60 s"),
    (None, RunLimit("...", "output too large: more than 1 MB on stdout"), "failed",
     "output too large: more than 1 MB on stdout"),
    (RegistryError("pulling x failed: blob unknown to registry. Check the reference, that its "
                   "registry is reachable, and `docker login`."), None, "failed",
     "cannot be pulled: pulling x failed: blob unknown to registry"),
])
def test_what_the_image_does_is_a_row_never_an_error(tmp_path, monkeypatch, pulled, ran,
                                                     status, reason):
    assert graded(tmp_path, monkeypatch, pulled=pulled, ran=ran) == \
        {"digest": DIGEST, "status": status, "reason": reason}


def test_a_missing_image_is_a_row(tmp_path, monkeypatch):
    assert graded(tmp_path, monkeypatch, served=None) == \
        {"digest": None, "status": "missing",
         "reason": "no image 127.0.0.1:5000/lena/app:1 in the registry"}


@pytest.mark.parametrize("error", [EngineError("the Docker Engine refused: no space left"),
                                   RegistryError("127.0.0.1:5000 does not answer")])
def test_what_stops_the_grader_fails_the_step_and_leaves_no_record(tmp_path, monkeypatch,
                                                                   error):
    if isinstance(error, RegistryError):  # the registry is down: asking for the digest fails
        rt, _ = runtime(tmp_path)

        def down(self, ref):
            raise error
        monkeypatch.setattr(type(rt), "served_digest", down)
        with pytest.raises(RegistryError):
            grade.grade(rt, student(tmp_path))
        assert records.read(rt.record_path("ex:check.lena")) is None
        return
    with pytest.raises(EngineError, match="no space left"):
        graded(tmp_path, monkeypatch, ran=error)
    assert records.read(records.path_in(tmp_path / "state", "ex:check.lena")) is None


def test_a_reason_is_one_line_in_both_tables(tmp_path):
    rt, _ = runtime(tmp_path)
    state = rt.config.state
    table = GradeStep(exercise="ex", name="check", doc="", after=(), where=WHERE,
                      roster=tmp_path / "r.yml", students=("ana", "bob"), image="x/{student}:1",
                      command=None, expect=Expect(), timeout=60,
                      records=(rt.record_path("ex:check.ana"), rt.record_path("ex:check.bob")),
                      table=state / "ex" / "check")
    forged = "no\n| bob | sha256:x | passed |  | local |\nbob,sha256:x,passed,,local"
    records.write(table.records[0], {"student": "ana", "digest": "sha256:a",
                                     "status": "failed", "reason": forged})
    records.write(table.records[1], {"student": "bob", "digest": "sha256:b",
                                     "status": "failed", "reason": "exit code 1, expected 0"})
    grade.table(rt, table)
    md = (table.table / "results.md").read_text().splitlines()
    assert len(md) == 4 and [line.split(" | ")[2] for line in md[2:]] == ["failed", "failed"]
    csv_lines = (table.table / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and csv_lines[2] == "bob,sha256:b,failed,"\
        "\"exit code 1, expected 0\","


def test_the_table_reruns_when_only_where_a_check_ran_changed(tmp_path):
    """A regrade on other nodes with the same results rewrites the records byte for byte;
    the table reads the notes beside them too (found so: its node column went stale)."""
    tasks, _, rt = helpers.compile_project(project(tmp_path, "- maggie\n- lena\n"))
    deps = set(tasks["ex:check"]["file_dep"])
    for student in ("maggie", "lena"):
        record = rt.record_path(f"ex:check.{student}")
        assert {str(record), str(records.local_of(record))} <= deps


@pytest.mark.parametrize("user, words", [
    ('"0"', "root"), ('"0:1000"', "root"), ("maggie", "not a uid or uid:gid"),
    ('"1:2:3"', "not a uid or uid:gid"),
])
def test_a_grade_forces_only_a_non_root_uid(tmp_path, user, words):
    root = project(tmp_path, "- lena\n")
    spec = root / "exercises/ex/exercise.yml"
    spec.write_text(spec.read_text() + f"    user: {user}\n")
    err = helpers.spec_error(root)
    assert (err.where.key, err.where.line) == ("steps.check.user", 8) and words in str(err)


def test_a_grade_passes_user_and_writable_to_each_student(tmp_path):
    root = project(tmp_path, "- lena\n")
    spec = root / "exercises/ex/exercise.yml"
    spec.write_text(spec.read_text() + '    user: "1000:1000"\n    writable: true\n')
    student = helpers.load(root)["ex"].steps["check.lena"]
    assert isinstance(student, StudentStep)
    assert (student.user, student.writable) == ("1000:1000", True)
