"""Single-input mutations: for each input file of each exercise, exactly the tasks in a table
written by hand rerun.

A mutation appends a comment (in Markdown, a line without digits): it changes the file's
bytes but not what the exercise computes. The table follows from what each step reads and
from identity by content: a step reruns when what it reads changed; its record changes only
when what it made changed, so the wave stops at the first step whose result is the same (a
Dockerfile comment rebuilds the image, whose content is the same: its checks stay up to date).
Services and the checks that run every time are left out. AC295_MUTATE_ALL=1 also mutates
the base image's recipe (an mmdebstrap), the compare exercise's files (each reruns a
measurement that boots VMs) and the cross-release demo's; the test command leaves them out.

The table is the oracle: it is not computed from the project's own edges.
"""
from __future__ import annotations

import os

from clones import clone

# file -> [(what doit is asked to run, the non-ephemeral tasks that must rerun), ...]; the
# runs of an entry reach every exercise that reads the file, so the next entry starts settled.
TABLE: dict[str, list[tuple[str, set[str]]]] = {
    "exercises/exercise2/Question.py": [
        ("exercise2", {"exercise2:image", "exercise2:question", "exercise2:push"}),
        # the roster's {hub_user} is this project's own push: graded again, and the table
        ("grade", {"grade:check.{me}", "grade:check"})],
    "exercises/exercise2/Dockerfile": [  # a comment: new labels, the same content
        ("exercise2", {"exercise2:image", "exercise2:push"}),
        ("grade", {"grade:check.{me}", "grade:check"})],  # the registry's digest moved
    "exercises/exercise2/NOTES.md": [("exercise2", set())],  # left out by .dockerignore
    "exercises/upstream/Question.py": [
        ("upstream", {"upstream:image", "upstream:push"}),
        # exercise 1 pulls the new image: new content, the same answer
        ("exercise1", {"exercise1:upstream", "exercise1:question", "exercise1:unchanged",
                       "exercise1:modify", "exercise1:push", "exercise1:pushed",
                       "exercise1:modified"})],
    "exercises/upstream/README.md": [
        ("upstream", {"upstream:image", "upstream:push"}),
        ("exercise1", {"exercise1:upstream", "exercise1:question", "exercise1:unchanged",
                       "exercise1:modify", "exercise1:push", "exercise1:pushed",
                       "exercise1:modified"})],
    "exercises/upstream/Dockerfile": [
        ("upstream", {"upstream:image", "upstream:push"}),
        # the registry serves a new manifest (labels), pulled: the same content, cut off
        ("exercise1", {"exercise1:upstream"})],
    "exercises/demo1/Dockerfile": [("demo1", {"demo1:image"})],
    # in the build context: an input of the image, whose content stays the same
    "exercises/demo1/compare.py": [("demo1", {"demo1:image", "demo1:compare"})],
    "exercises/demo1/syllabus.md": [  # still 15 lines with a digit: the counts stay
        ("demo1", {"demo1:image", "demo1:count-container", "demo1:count-native"})],
    "exercises/demo2/db/Dockerfile": [("demo2", {"demo2:db-image"})],
    "exercises/demo2/db/db.py": [("demo2", {"demo2:db-image"})],
    "exercises/demo2/db/translations.py": [("demo2", {"demo2:db-image"})],
    "exercises/demo2/server/Dockerfile": [("demo2", {"demo2:server-image"})],
    "exercises/demo2/server/server.py": [("demo2", {"demo2:server-image"})],
    "exercises/demo2/probe.py": [("demo2", set())],  # read only by checks that always run
    "exercises/venv/environment.yml": [("venv", {"venv:maggie"})],  # the same lock
    "exercises/venv/environment-john.yml": [("venv", {"venv:john-adds"})],
    "exercises/venv/experiment.py": [("venv", {"venv:experiment"})],
    "exercises/venv/compare.py": [("venv", {"venv:same-in-image"})],
    "exercises/venv/image/Dockerfile": [("venv", {"venv:image"})],
    "exercises/grade/roster.yml": [("grade", set())],  # the same students: nothing to grade
    # a compose file's steps: each build context is its image's alone; the file, the env file
    # and the seed (a comment each) change no step's config, and are read by services only
    "exercises/compose/docker-compose.yml": [("compose", set())],
    "exercises/compose/api.env": [("compose", set())],
    "exercises/compose/seed/greetings.txt": [("compose", set())],
    "exercises/compose/probe.py": [("compose", set())],
    "exercises/compose/database/Dockerfile": [("compose", {"compose:app.database.image"})],
    "exercises/compose/database/db.py": [("compose", {"compose:app.database.image"})],
    "exercises/compose/api/Dockerfile": [("compose", {"compose:app.api.image"})],
    "exercises/compose/api/api.py": [("compose", {"compose:app.api.image"})],
    "exercises/compose/frontend/Dockerfile": [("compose", {"compose:app.frontend.image"})],
    "exercises/compose/frontend/frontend.py": [("compose", {"compose:app.frontend.image"})],
    "exercises/compose/integration-test/Dockerfile": [
        ("compose", {"compose:app.integration-test.image"})],
    "exercises/compose/integration-test/tests.py": [
        ("compose", {"compose:app.integration-test.image"})],
}
# AC295_MUTATE_ALL=1 only: a debootstrap, and measurements that boot VMs (minutes each)
BASE = {"exercises/base/rootfs.sh": [("base", {"base:image", "base:push"})]}
MEASURED = {
    "exercises/compare/compare.py": [("compare", {"compare:measure"})],
    "exercises/compare/image/Dockerfile": [("compare", {"compare:image"})],
    "exercises/compare/image/workloads.py": [
        ("compare", {"compare:image", "compare:file", "compare:measure"})],
    "exercises/compare/requirements.txt": [("compare", {"compare:env"})],  # the same lock
}
# AC295_MUTATE_ALL=1 only: the cross-release demo (a debootstrap of bullseye, pandas and numpy
# wheels, two images of a few hundred MB). Each lock is the same text again, so what reads it
# is cut off; the images are built without .pyc files, so a comment in the Dockerfile gives
# the same content (only the push, and John's pull of it, see a new manifest).
CROSSOS = {
    "exercises/crossos/environment.yml": [
        ("crossos", {"crossos:lock-bookworm", "crossos:lock-bullseye"})],
    "exercises/crossos/resolve.py": [
        ("crossos", {"crossos:lock-bookworm", "crossos:lock-bullseye"})],
    "exercises/crossos/verdict.py": [("crossos", {"crossos:verdict"})],
    "exercises/crossos/image/Dockerfile": [
        ("crossos", {"crossos:maggie-image", "crossos:john-image", "crossos:push",
                     "crossos:john-pulls"})],
    "exercises/crossos/image/experiment.py": [
        ("crossos", {"crossos:maggie-image", "crossos:john-image", "crossos:maggie",
                     "crossos:john", "crossos:push", "crossos:john-pulls",
                     "crossos:john-runs-maggies"})],
    # debootstrap (not mmdebstrap) makes other bytes: a new bullseye, John's image on it
    "exercises/crossos/rootfs.sh": [
        ("crossos", {"crossos:bullseye", "crossos:bullseye-python", "crossos:john-image",
                     "crossos:john"})],
}
EPHEMERAL = {"demo2:network", "demo2:db", "demo2:server", "demo2:answers",
             "demo2:db-not-published",
             *(f"compose:{step}" for step in (
                 "app", "app.default.network", "app.dbdata.volume", "app.database", "app.api",
                 "app.frontend", "app.integration-test", "page", "private"))}


def _mutate(path) -> None:
    tail = "\nA line that changes nothing.\n" if path.suffix == ".md" else "\n# mutation\n"
    path.write_text(path.read_text() + tail)


def test_the_table_covers_every_input(tmp_path):
    """Every file of every exercise is in the table, but specs and ignore files."""
    project = clone(tmp_path, "127.0.0.1:1")  # only its files are read
    found = {str(p.relative_to(project.root)) for p in (project.root / "exercises").rglob("*")
             if p.is_file() and p.name not in ("exercise.yml", ".dockerignore", ".gitignore")}
    assert found == set(TABLE) | set(BASE) | set(MEASURED) | set(CROSSOS)


def test_each_input_reruns_exactly_its_table_entry(tmp_path, make_registry):
    table = {**TABLE, **({**BASE, **MEASURED, **CROSSOS}
                         if os.environ.get("AC295_MUTATE_ALL") == "1" else {})}
    project = clone(tmp_path, make_registry().host)
    project.doit(*sorted({target for runs in table.values() for target, _ in runs}))  # once
    exact, mismatches = 0, []
    for rel, runs in table.items():
        _mutate(project.root / rel)
        for target, want in runs:
            run = project.doit(target)
            got = {t for t in run.executed if ":" in t} - EPHEMERAL
            want = {t.replace("{me}", project.hub_user) for t in want}
            if got == want:
                exact += 1
            else:
                mismatches.append(f"{rel} ({target}): reran {sorted(got)}, expected "
                                  f"{sorted(want)}")
    total = exact + len(mismatches)
    print(f"FIGURE mutations: {exact} of {total} exact (hand-written table)")
    assert not mismatches, "\n".join(mismatches)
    assert total >= 20  # the table was really walked
