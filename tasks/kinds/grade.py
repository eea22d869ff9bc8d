"""``grade:``: a class's images checked one by one, and the results as a table.

The step names a roster (YAML: a list of names, or ``students:`` holding one; CSV: a
``student`` column) and an image pattern with ``{student}``. It stands for one step per
student (``<step>.<student>``, a doit task of its own) and for itself, the table:

- a student's step asks the registry for the digest of that student's image, pulls it by
  digest, runs the command (a Swarm job in cluster mode) isolated as a one-shot ``run:`` is
  (``tasks.kinds.isolation``: no network, no capabilities, a read-only root, bounded time,
  resources and output) and checks the output as ``run:`` does. What the student's image
  does is recorded, never raised: ``passed``, ``failed`` (with the reason: wrong output,
  exit code, timed out, output too large, cannot be pulled) or ``missing`` (no such image).
  Only what stops the grader itself (the registry does not answer, the engine fails, the
  cluster has no node) fails the step. It is up to date while the registry serves the digest
  it graded, so a re-grade reruns only the students whose image changed;
- the table step reads every student's record and writes ``results.csv`` and ``results.md``
  (student, digest, status, reason, and the node that ran it). Nothing the student's
  container prints reaches them: a reason is the grader's own words.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..cluster import jobs
from ..engine import containers, registry
from ..errors import Ac295Error, RegistryError, RunLimit, ShellError, SpecError, Where
from ..dsl import yamlsrc
from ..dsl.fields import Fields
from ..dsl.model import Exercise, Step
from . import expect as expect_mod
from . import isolation, records
from .actions import Check, Verdict, action, fresh, recorded, stale
from ..progress import progress
from ..names import shell_line
from . import shells
from .base import Key, Kind, Makes, Reads, Session, ShellRequest, TaskContext
from .expect import Expect
from .runtime import Runtime

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_.-")


@dataclass(frozen=True, kw_only=True)
class StudentStep(Step):
    """Check one student's image (made by a ``grade`` step, never written)."""

    kind: ClassVar[str] = "grade-student"
    student: str
    ref: str
    command: tuple[str, ...] | None
    expect: Expect
    timeout: int
    user: str = ""  # a non-root uid[:gid] to run as; "": the image's user
    writable: bool = False


@dataclass(frozen=True, kw_only=True)
class GradeStep(Step):
    """The table of a class's results, and the roster it came from."""

    kind: ClassVar[str] = "grade"
    roster: Path
    students: tuple[str, ...]
    image: str  # the pattern, with {student}
    command: tuple[str, ...] | None
    expect: Expect
    timeout: int
    records: tuple[Path, ...]  # the students' records, in roster order
    table: Path  # the folder of results.csv and results.md
    user: str = ""
    writable: bool = False


def read_roster(path: Path, variables: dict[str, str]) -> list[tuple[str, int]]:
    """(name, line) of each student; variables in names are expanded (``{hub_user}``).

    Raises:
        SpecError: with the roster's file and line.
    """
    from ..dsl.config import expand

    if path.suffix == ".csv":
        try:
            rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise SpecError(Where(path, 1), f"cannot read the roster: {err}.") from None
        if rows and "student" not in rows[0]:
            raise SpecError(Where(path, 1), "a CSV roster needs a 'student' column.")
        found = [(row["student"].strip(), n) for n, row in enumerate(rows, 2)]
    else:
        data = yamlsrc.load(path)
        if isinstance(data, yamlsrc.LDict):
            data = data.get("students")
        if not isinstance(data, yamlsrc.LList):
            raise SpecError(Where(path, 1), "a roster is a list of names (or 'students:' "
                            "holding one).")
        found = [(str(item), line) for item, line in zip(data, data.item_lines)]
    names: list[tuple[str, int]] = []
    for name, line in found:
        name = expand(name, variables, Where(path, line))
        if not name or not set(name) <= _NAME_CHARS or name[0] in ".-":
            raise SpecError(Where(path, line), f"'{name}' cannot name a student's images.",
                            "Use lower-case letters, digits, '_', '.', '-'.")
        if name in [n for n, _ in names]:
            raise SpecError(Where(path, line), f"'{name}' is in the roster twice.")
        names.append((name, line))
    if not names:
        raise SpecError(Where(path, 1), "the roster names no student.")
    return names


def _short(digest: str | None) -> str:
    return digest[7:19] if digest else ""


def uptodate(rt: Runtime, step: StudentStep) -> Verdict:
    """Up to date while the registry serves the digest that was graded (or still nothing)."""
    record = records.read(rt.record_path(step.task))
    if record is None:
        return stale("it has no record (never graded here)")
    served, graded = rt.served_digest(step.ref), record.get("digest")
    if served != graded:
        now = f"is now {_short(served)}" if served else "is gone from the registry"
        was = f"the graded {_short(graded)}" if graded else "missing when graded"
        return stale(f"{step.student}'s image {now}, {was}")
    if served is None:
        return fresh(f"the registry still has no image {step.ref}")
    return fresh(f"the registry still serves the graded {_short(served)}")


def _one_line(text: str, limit: int = 300) -> str:
    """A reason as one line of at most ``limit`` characters (the table's cells are lines)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def check(rt: Runtime, step: StudentStep, digest: str) -> tuple[str, str, str]:
    """(status, reason, node) of one student's image, which the registry serves at
    ``digest``: what the image does is a status; what stops the grader raises.

    Raises:
        Ac295Error: the engine or the cluster failed (the grader cannot run).
    """
    parsed = registry.Reference.parse(step.ref)
    try:
        image_id = registry.pull(rt.engine, f"{parsed.registry}/{parsed.repository}"
                                 f"@{digest}", lambda line: None)
    except RegistryError as err:  # the registry answered (it served the digest): the image
        first = str(err).split(". Check the reference")[0]
        return "failed", f"cannot be pulled: {first}", ""
    profile = isolation.profile(step.user, step.writable, None)
    swarm = rt.swarm
    node = "local" if swarm is None else ""
    outcome: containers.Outcome
    try:
        if swarm is not None:
            job = jobs.run(rt.engine, swarm, image_id, step.command, {}, step.timeout,
                           rt.engine.labels(step.task), step.task, progress, profile)
            outcome, node = job, job.node
        else:
            outcome = containers.run_once(rt.engine, image_id, step.command, {},
                                          step.timeout, rt.engine.labels(step.task),
                                          step.task, lambda line: None, profile)
    except RunLimit as err:
        return "failed", err.reason, err.node or node
    unmet = expect_mod.problems(step.expect, outcome.exit_code, outcome.stdout,
                                outcome.stderr)
    if unmet:  # what the isolation explains, in the grader's own words
        unmet += [f"({line.split(':')[0]})" for line in
                  isolation.hints(outcome.stdout + outcome.stderr)]
    return ("failed", "; ".join(unmet), node) if unmet else ("passed", "", node)


def grade(rt: Runtime, step: StudentStep) -> None:
    """Grade one student: pull by digest, run isolated (on the cluster in cluster mode),
    check; the outcome is the record, whatever the image did."""
    with recorded(rt.record_path(step.task), step.task) as recording:
        digest = rt.served_digest(step.ref)
        if digest is None:
            status, reason, node = "missing", f"no image {step.ref} in the registry", ""
        else:
            status, reason, node = check(rt, step, digest)
        reason = _one_line(reason)
        progress(f"{step.student}: {status}{' (' + reason + ')' if reason else ''}"
                 f"{' on ' + node if node else ''}")
        recording.data = {"student": step.student, "digest": digest, "status": status,
                          "reason": reason}
        recording.local = {"node": node}


def graded_plan(rt: Runtime, step: StudentStep, request: ShellRequest) -> shells.Plan:
    """A student's shell: a container of the image that was graded (by its digest, pulled
    again if the engine lost it), with a shell (``-c``: the grade's command)."""
    record = records.read(rt.record_path(step.task))
    if record is None:
        raise ShellError(f"{step.student} has not been graded here: run "
                         f"`script/doit {step.task}` first, then open the shell.")
    if not record.get("digest"):
        raise ShellError(f"there was no image to grade for {step.student} "
                         f"({record.get('reason') or step.ref}), so there is none to open.")
    parsed = registry.Reference.parse(step.ref)
    ref = f"{parsed.registry}/{parsed.repository}@{record['digest']}"
    image_id = rt.engine.image_id(ref)
    if image_id is None:
        local = rt.local_registry
        if local is not None and parsed.registry == rt.config.registry:
            local.start(progress)
        image_id = registry.pull(rt.engine, ref, progress)
    return shells.Plan(image=image_id, shell=not request.own_command, command=step.command,
                       what=f"the image graded for {step.student} ({ref})"
                            + (", with the grade's command" if request.own_command else ""))


def table(rt: Runtime, step: GradeStep) -> None:
    """Write results.csv and results.md from the students' records."""
    rows = []
    for student, path in zip(step.students, step.records):
        record = records.read(path)
        if record is None:
            raise Ac295Error(f"{step.task}: {student} has no result; run {step.task}.{student}.")
        notes = records.read(records.local_of(path)) or {}
        rows.append([student, record.get("digest") or "", record["status"],
                     _one_line(record.get("reason") or ""), notes.get("node", "")])
    head = ["student", "digest", "result", "reason", "node"]
    step.table.mkdir(parents=True, exist_ok=True)
    with open(step.table / "results.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(head)
        writer.writerows(rows)
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    lines += ["| " + " | ".join([r[0], r[1][:19], r[2], r[3].replace("|", "/"), r[4]]) + " |"
              for r in rows]
    (step.table / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    counts = {s: sum(1 for r in rows if r[2] == s) for s in ("passed", "failed", "missing")}
    nodes = sorted({r[4] for r in rows if r[4]})
    progress(f"{len(rows)} student(s): {counts['passed']} passed, {counts['failed']} failed, "
             f"{counts['missing']} missing; run on {', '.join(nodes) or 'no node'}")
    progress(f"{step.table / 'results.md'}")


class Grade(Kind[GradeStep]):
    name = "grade"
    shape = "tab"
    keyword = Key("grade", "string", "the roster: a YAML list of names, or a CSV with a "
                  "'student' column", required=True)
    keys = (Key("image", "string", "each student's image, with {student}, e.g. "
                "{registry}/{student}/app:1", required=True),
            Key("command", "command", "the check's command (default: the image's CMD)"),
            expect_mod.KEY,
            Key("timeout", "integer", "seconds one check may take (default 300); past it, "
                "the student's check is stopped and graded failed"),
            *isolation.KEYS)
    summary = "grade a class: one check per student's image, and the results table"

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> GradeStep:
        roster = f.path("grade", f.required("grade"), folder)
        if not roster.is_file():
            raise SpecError(f.where("grade"), f"no roster at {roster}.")
        literal = Fields(f.node, f.file, f.prefix, {**f.variables, "student": "{student}"})
        image = literal.required("image")
        if "{student}" not in image:
            raise SpecError(f.where("image"), "the image must name each student's with "
                            "{student}.")
        students = tuple(n for n, _ in read_roster(roster, dict(f.variables)))
        state = Path(f.variables["state"])
        base = common["name"]
        return GradeStep(**common, roster=roster, students=students, image=image,
                         command=f.command("command"), expect=expect_mod.parse(f),
                         timeout=f.positive("timeout") or 300,
                         user=isolation.user(f), writable=isolation.writable(f),
                         records=tuple(records.path_in(state, f"{common['exercise']}:{base}."
                                                       f"{s}") for s in students),
                         table=state / common["exercise"] / base)

    def expand(self, step: GradeStep) -> list[Step]:
        students: list[Step] = [
            StudentStep(exercise=step.exercise, name=f"{step.name}.{student}",
                        doc=f"grade {student}'s image", after=step.after, where=step.where,
                        lines=step.lines, student=student,
                        ref=step.image.replace("{student}", student), command=step.command,
                        expect=step.expect, timeout=step.timeout, user=step.user,
                        writable=step.writable)
            for student in step.students]
        return [step, *students]

    def parse_inputs(self, step: GradeStep) -> tuple[Path, ...]:
        return (step.roster,)

    def reads(self, step: GradeStep) -> Reads:
        return Reads(files=step.records)

    def makes(self, step: GradeStep, exercise: Exercise) -> Makes:
        return Makes(files=(step.table,))

    def outputs(self, step: GradeStep, record: Path) -> list[Path]:
        return [step.table / "results.csv", step.table / "results.md"]

    def task(self, step: GradeStep, ctx: TaskContext) -> dict[str, Any]:
        # the table shows where each check ran, from the notes beside the records: a regrade
        # on other nodes with the same results changes only those
        return {"actions": [action(table, ctx.rt, step)],
                "file_dep": [str(records.local_of(path)) for path in step.records]}

    def shell(self, step: GradeStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        first = step.students[0] if step.students else "STUDENT"
        return (f"{step.task} writes the class's table, which has no environment; open a "
                f"student's graded image instead: {shell_line(f'{step.task}.{first}')}")


class GradeStudent(Kind[StudentStep]):
    name = "grade-student"
    shape = "oval"
    keyword = Key("grade", "string", "(made by a grade step)")
    internal = True
    summary = "grade one student's image (made by a grade step)"
    # nothing in ac295.lock: a grade is a fact about someone else's image, now, not a result
    # of this project's code

    def reads(self, step: StudentStep) -> Reads:
        return Reads(pulls=(step.ref,))

    def task(self, step: StudentStep, ctx: TaskContext) -> dict[str, Any]:
        return {"actions": [action(grade, ctx.rt, step)],
                "uptodate": [Check("the registry's digest of the image", uptodate, ctx.rt,
                                   step)]}

    def shell(self, step: StudentStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return shells.container_session(ctx.rt, step.task, request,
                                        lambda: graded_plan(ctx.rt, step, request))
