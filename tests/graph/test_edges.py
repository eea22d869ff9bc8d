"""tasks.graph.edges: who makes which image, which steps a step needs, record vs task deps, cycles."""
from __future__ import annotations

from pathlib import Path

import pytest

import helpers
from helpers import write_project
from tasks.errors import SpecError
from tasks.graph import edges
from tasks.kinds import KINDS
from tasks.dsl.model import Exercise, normalize_ref


def load(root: Path) -> tuple[dict[str, Exercise], edges.Producers]:
    exercises = helpers.load(root)
    return exercises, edges.Producers(list(exercises.values()), KINDS)


# --- references docker treats as equal ------------------------------------------------------

@pytest.mark.parametrize("ref", ["x", "x:latest", "docker.io/library/x:latest",
                                 "docker.io/library/x", "index.docker.io/library/x", "library/x"])
def test_normalize_ref_equal_spellings(ref):
    assert normalize_ref(ref) == "x:latest"


@pytest.mark.parametrize("ref, normal", [
    ("x:1", "x:1"),
    ("docker.io/me/x", "me/x:latest"),
    ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest"),  # the port is not a tag
    ("127.0.0.1:5000/me/x:v1", "127.0.0.1:5000/me/x:v1"),
])
def test_normalize_ref_keeps_what_differs(ref, normal):
    assert normalize_ref(ref) == normal


def test_producers_are_keyed_by_normalized_refs(tmp_path):
    exercises, producers = load(write_project(tmp_path, {
        "exercises/a/exercise.yml": """\
            doc: a
            steps:
              hub: {pull: "docker.io/library/x:latest"}
              own: {build: ., tag: "{registry}/me/own"}
            """,
        "exercises/a/Dockerfile": "FROM scratch\n"}))
    steps = exercises["a"].steps
    assert producers.images == {"x:latest": steps["hub"],
                                "127.0.0.1:5000/me/own:latest": steps["own"]}
    for spelling in ("x", "x:latest", "docker.io/library/x:latest"):
        assert producers.images[normalize_ref(spelling)] is steps["hub"]
    assert producers.pushes == {}


# --- a build FROM an image that another exercise makes --------------------------------------

MAKERS = {
    "build": 'made: {build: ., tag: "me/base"}',
    "import": 'made: {import: "{state}/rootfs.tar", tag: "me/base:latest"}',
    "commit": 'src: {pull: "alpine:3"}\n  made: {commit: src, commands: ["ls"], '
              'tag: "docker.io/me/base"}',
    "pull": 'made: {pull: "docker.io/me/base:latest"}',
}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_build_from_an_image_made_in_another_exercise(tmp_path, kind):
    exercises, producers = load(write_project(tmp_path, {
        "exercises/maker/exercise.yml": f"doc: m\nsteps:\n  {MAKERS[kind]}\n",
        "exercises/maker/Dockerfile": "FROM scratch\n",
        "exercises/user/exercise.yml": 'doc: u\nsteps:\n  app: {build: ., tag: "me/app:1"}\n',
        "exercises/user/Dockerfile": "FROM docker.io/me/base:latest AS stage\nRUN ls\n"}))
    made = exercises["maker"].steps["made"]
    app = exercises["user"].steps["app"]
    assert made.kind == kind
    assert producers.of_reads(app) == [made]
    assert edges.needs(app, exercises["user"], producers) == [made]
    assert edges.split(app, exercises["user"], producers) == ([made], [])


def test_build_from_an_image_no_step_makes_has_no_edge(tmp_path):
    exercises, producers = load(write_project(tmp_path, {
        "exercises/a/exercise.yml": 'doc: a\nsteps:\n  app: {build: ., tag: "me/app:1"}\n',
        "exercises/a/Dockerfile": "FROM python:3.11-slim\n"}))
    app = exercises["a"].steps["app"]
    assert app.bases == ("python:3.11-slim",)
    assert producers.of_reads(app) == []
    assert edges.needs(app, exercises["a"], producers) == []


# --- a pull of a reference that a push step pushes ------------------------------------------

def test_pull_depends_on_the_push_of_its_reference(tmp_path):
    exercises, producers = load(write_project(tmp_path, {
        "exercises/upstream/exercise.yml": """\
            doc: instructor
            steps:
              image: {build: ., tag: "{registry}/prof/l2"}
              push: {push: image}
              again: {push: image, tag: "{registry}/prof/l2:v2"}
            """,
        "exercises/upstream/Dockerfile": "FROM scratch\n",
        "exercises/student/exercise.yml": """\
            doc: student
            steps:
              latest: {pull: "{registry}/prof/l2:latest"}
              v2: {pull: "{registry}/prof/l2:v2"}
              other: {pull: "{registry}/prof/l2:v3"}
            """}))
    up, student = exercises["upstream"].steps, exercises["student"]
    assert producers.pushes == {"127.0.0.1:5000/prof/l2:latest": up["push"],
                                "127.0.0.1:5000/prof/l2:v2": up["again"]}
    # The pull needs the push (the registry must have it), not the build of the same tag.
    assert edges.needs(student.steps["latest"], student, producers) == [up["push"]]
    assert edges.split(student.steps["latest"], student, producers) == ([up["push"]], [])
    assert producers.of_reads(student.steps["v2"]) == [up["again"]]
    assert producers.of_reads(student.steps["other"]) == []
    assert producers.of_reads(up["image"]) == []  # only pull steps


# --- records (file_dep) versus ephemeral steps (task_dep) -----------------------------------

def test_split_puts_ephemeral_needs_in_task_deps(tmp_path):
    exercises, producers = load(write_project(tmp_path, {
        "exercises/ex/exercise.yml": """\
            doc: services
            steps:
              img: {build: ., tag: "me/img:1"}
              net: {network: hello}
              svc: {run: img, detach: true, network: net, ready: {log: up}}
              probe: {run: img, network: net, after: [svc]}
              check: {sh: "curl localhost", after: [svc]}
              push: {push: img, after: [probe]}
            """,
        "exercises/ex/Dockerfile": "FROM scratch\n"}))
    ex = exercises["ex"]
    s = ex.steps
    assert edges.split(s["svc"], ex, producers) == ([s["img"]], ["ex:net"])
    # `after:` entries come first, then the ephemeral steps the step uses.
    assert edges.split(s["probe"], ex, producers) == ([s["img"]], ["ex:svc", "ex:net"])
    assert edges.split(s["check"], ex, producers) == ([], ["ex:svc"])
    # A non-ephemeral `after:` is ordering only: a task dep, never a record.
    assert edges.split(s["push"], ex, producers) == ([s["img"]], ["ex:probe"])
    assert edges.split(s["net"], ex, producers) == ([], [])


# --- cycles ----------------------------------------------------------------------------------

def test_cycle_through_pull_push_and_build_edges(tmp_path):
    # a:image FROM b's image; b:image FROM what b:pulled pulls; that is what a:push pushes.
    root = write_project(tmp_path, {
        "exercises/a/exercise.yml": """\
            doc: a
            steps:
              image: {build: ., tag: "{registry}/x/a:1"}
              push: {push: image, tag: "{registry}/x/pushed:1"}
            """,
        "exercises/a/Dockerfile": "FROM 127.0.0.1:5000/x/b:1\n",
        "exercises/b/exercise.yml": """\
            doc: b
            steps:
              pulled: {pull: "{registry}/x/pushed:1"}
              image: {build: ., tag: "{registry}/x/b:1"}
            """,
        "exercises/b/Dockerfile": "FROM 127.0.0.1:5000/x/pushed:1\n"})
    with pytest.raises(SpecError) as info:
        load(root)
    err = info.value
    assert "cycle" in str(err)
    for task in ("a:image", "a:push", "b:pulled", "b:image"):
        assert task in str(err)
    assert err.where.file in {root.resolve() / "exercises" / e / "exercise.yml"
                              for e in ("a", "b")}
    assert err.where.key in {"steps.image", "steps.push", "steps.pulled"}


def test_same_project_without_the_closing_edge_loads(tmp_path):
    # Control for the cycle test: pushing under another tag breaks the loop.
    root = write_project(tmp_path, {
        "exercises/a/exercise.yml": """\
            doc: a
            steps:
              image: {build: ., tag: "{registry}/x/a:1"}
              push: {push: image, tag: "{registry}/x/elsewhere:1"}
            """,
        "exercises/a/Dockerfile": "FROM 127.0.0.1:5000/x/b:1\n",
        "exercises/b/exercise.yml": """\
            doc: b
            steps:
              pulled: {pull: "{registry}/x/pushed:1"}
              image: {build: ., tag: "{registry}/x/b:1"}
            """,
        "exercises/b/Dockerfile": "FROM 127.0.0.1:5000/x/pushed:1\n"})
    exercises, producers = load(root)
    b = exercises["b"]
    assert producers.of_reads(b.steps["pulled"]) == []
    assert producers.of_reads(b.steps["image"]) == [b.steps["pulled"]]


# --- recipes whose deps name another step's record or target ---------------------------------

def test_recipe_deps_on_a_record_are_an_edge(tmp_path):
    root = write_project(tmp_path, {
        "exercises/ex/Dockerfile": "FROM scratch\n",
        "exercises/ex/exercise.yml": """\
            doc: d
            steps:
              img: {build: ., tag: "me/img:1"}
              check: {run: img}
              compare:
                sh: cat {state}/records/ex/check.json
                deps: ["{state}/records/ex/check.json"]
                targets: ["{state}/compare.txt"]
            """})
    exercises = list(helpers.load(root).values())
    producers = edges.Producers(exercises, KINDS, (root / ".ac295").resolve())
    ex = exercises[0]
    assert edges.needs(ex.steps["compare"], ex, producers) == [ex.steps["check"]]
    assert edges.needs(ex.steps["compare"], ex, edges.Producers(exercises, KINDS)) == []


def test_cycle_through_a_recipe_dep_is_a_spec_error(tmp_path):
    root = write_project(tmp_path, {
        "exercises/ex/Dockerfile": "FROM scratch\n",
        "exercises/ex/exercise.yml": """\
            doc: d
            steps:
              img: {build: ., tag: "me/img:1"}
              data:
                sh: echo > made.txt
                deps: ["{state}/records/ex/img.json"]
                targets: [made.txt]
            """})
    with pytest.raises(SpecError, match="cycle: .*ex:data.*ex:img|cycle: .*ex:img.*ex:data"):
        helpers.load(root)


# --- two steps that make one thing; files read that nothing makes ---------------------------

def _spec_file(fixture: str, exercise: str) -> Path:
    return helpers.DATA / fixture / "exercises" / exercise / "exercise.yml"


def test_one_tag_made_by_two_exercises_names_both_places():
    err = helpers.spec_error(helpers.DATA / "duplicate_tag")
    second, first = _spec_file("duplicate_tag", "second"), _spec_file("duplicate_tag", "first")
    assert (err.where.file, err.where.key) == (second, "steps.image.tag")
    assert err.where.line == helpers.line_of(second, "tag:")
    assert f"also made by first:image ({first}:{helpers.line_of(first, 'tag:')} " in str(err)
    assert "127.0.0.1:5000/maggie/app:1" in str(err)


def test_the_first_of_two_exercises_with_one_tag_keeps_working(tmp_path):
    from tasks import project
    good, broken, _ = project.load_isolated(helpers.load_config(
        helpers.DATA / "duplicate_tag", {"AC295_STATE_DIR": str(tmp_path)}))
    assert [e.name for e in good] == ["first"] and list(broken) == ["second"]


def test_one_reference_pushed_by_two_steps_names_both():
    err = helpers.spec_error(helpers.DATA / "duplicate_push")
    spec = _spec_file("duplicate_push", "ex")
    assert err.where.key == "steps.publish-tool.tag"
    assert err.where.line == helpers.line_of(spec, 'tag: "{registry}/{hub_user}/latest:1"', 2)
    assert "also pushed by ex:publish-app" in str(err)


@pytest.mark.parametrize("steps, key, other", [
    # one exercise: a build and a commit make one tag (spelled two ways)
    ('a: {build: ., tag: "me/app"}\n  p: {pull: "alpine:3"}\n'
     '  b: {commit: p, commands: [ls], tag: "docker.io/me/app:latest"}', "steps.b.tag", "ex:a"),
    # an import and a build
    ('a: {import: "{state}/r.tar", tag: "me/base:1"}\n  b: {build: ., tag: "me/base:1"}',
     "steps.b.tag", "ex:a"),
    # a push of one image under the tag another step makes
    ('a: {build: ., tag: "{registry}/me/a:1"}\n  b: {build: ., tag: "{registry}/me/b:1"}\n'
     '  p: {push: b, tag: "{registry}/me/a:1"}', "steps.p.tag", "ex:a"),
    # two recipes writing one file
    ('a: {sh: "touch {state}/x", targets: ["{state}/x"]}\n'
     '  b: {sh: "touch {state}/x", targets: ["{state}/x"]}', "steps.b.targets[0]", "ex:a"),
])
def test_two_steps_making_one_thing_is_a_spec_error(tmp_path, steps, key, other):
    root = write_project(tmp_path, {"exercises/ex/exercise.yml": f"doc: d\nsteps:\n  {steps}\n",
                                    "exercises/ex/Dockerfile": "FROM scratch\n"})
    err = helpers.spec_error(root, {"AC295_STATE_DIR": str(tmp_path / "state")})
    assert err.where.key == key
    assert f"by {other} (" in str(err) and "own name" in str(err)


@pytest.mark.parametrize("steps", [
    # a build pushed under its own tag, pulled back elsewhere (exercise 2 and rootless)
    'a: {build: ., tag: "{registry}/me/a:1"}\n  p: {push: a}\n  q: {pull: "{registry}/me/a:1"}',
    # the same reference pulled twice
    'a: {pull: "alpine:3"}\n  b: {pull: "docker.io/library/alpine:3"}',
    # a push of an image under another tag, which nothing else makes
    'a: {build: ., tag: "{registry}/me/a:1"}\n  p: {push: a, tag: "{registry}/me/a:latest"}',
])
def test_fetching_what_a_step_made_is_no_clash(tmp_path, steps):
    root = write_project(tmp_path, {"exercises/ex/exercise.yml": f"doc: d\nsteps:\n  {steps}\n",
                                    "exercises/ex/Dockerfile": "FROM scratch\n"})
    helpers.load(root)


def test_a_missing_dep_is_reported_at_its_own_line_before_anything_runs():
    err = helpers.spec_error(helpers.DATA / "missing_dep")
    spec = _spec_file("missing_dep", "ex")
    assert err.where.line == helpers.line_of(spec, "- make-dta.sh")
    assert err.where.key == "steps.data.deps[1]"
    assert "make-dta.sh does not exist, and no step makes it" in str(err)
    assert "Did you mean 'make-data.sh'?" in str(err)


def test_a_dep_that_another_step_makes_or_a_record_is_fine(tmp_path):
    root = write_project(tmp_path, {"exercises/ex/exercise.yml": """\
        doc: d
        steps:
          a: {sh: "echo > {state}/a.txt", targets: ["{state}/a.txt"]}
          i: {build: ., tag: "me/i:1"}
          r: {run: i}
          b:
            sh: "cat {state}/a.txt {state}/records/ex/r.json"
            deps: ["{state}/a.txt", "{state}/records/ex/r.json"]
        """, "exercises/ex/Dockerfile": "FROM scratch\n"})
    helpers.load(root, {"AC295_STATE_DIR": str(tmp_path / "state")})


# --- `after:` names what it can -----------------------------------------------------------

def test_after_naming_no_step_of_another_exercise_suggests_only_its_steps():
    err = helpers.spec_error(helpers.DATA / "after_other")
    assert "'after' names 'other:nosuch', but other has no step 'nosuch'." in str(err)
    assert "third" not in str(err)  # third:nosuch is close, but not in the named exercise
    assert "The steps of other: 'other:build', 'other:push'." in str(err)
    assert err.where.line == helpers.line_of(_spec_file("after_other", "ex"), "after:")


def test_after_naming_a_whole_exercise_says_what_it_takes():
    err = helpers.spec_error(helpers.DATA / "after_exercise")
    assert "'after' names 'other', which is an exercise, not a step." in str(err)
    assert "'exercise:name' for a step of another (e.g. other:build, other:push)" in str(err)
    assert "third" not in str(err)


@pytest.mark.parametrize("after, message", [
    ('["nosuch:push"]', "there is no exercise 'nosuch'"),
    ('["othr:push"]', "there is no exercise 'othr'. Did you mean 'other'?"),
    ('["other:psh"]', "other has no step 'psh'. Did you mean 'other:push'?"),
])
def test_after_across_exercises(tmp_path, after, message):
    root = write_project(tmp_path, {
        "exercises/ex/exercise.yml": f"doc: d\nsteps:\n  go: {{sh: 'true', after: {after}}}\n",
        "exercises/other/exercise.yml": "doc: d\nsteps:\n  push: {sh: 'true'}\n"})
    assert message in str(helpers.spec_error(root))


def test_after_naming_a_broken_exercise_says_so(tmp_path):
    from tasks import project
    root = write_project(tmp_path, {
        "exercises/ex/exercise.yml": "doc: d\nsteps:\n  go: {sh: 'true', after: ['bad:s']}\n",
        "exercises/bad/exercise.yml": "doc: d\nsteps:\n  s: {sh: 'true', tagg: 1}\n"})
    _, broken, _ = project.load_isolated(helpers.load_config(
        root, {"AC295_STATE_DIR": str(tmp_path / "state")}))
    assert "the exercise bad is broken itself" in str(broken["ex"])


def test_a_dep_that_is_a_folder_is_refused_before_it_runs(tmp_path):
    """doit would hash the folder after the recipe ran: an IsADirectoryError traceback."""
    root = write_project(tmp_path, {"exercises/ex/exercise.yml":
                                    "doc: d\nsteps:\n  s: {sh: 'true', deps: [data]}\n",
                                    "exercises/ex/data/x.csv": "1\n"})
    err = helpers.spec_error(root)
    assert err.where.key == "steps.s.deps[0]" and "is a folder" in str(err)
def test_upstream_is_transitive_and_holds_after_too(tmp_path):
    root = write_project(tmp_path, {"exercises/ex/exercise.yml": """\
        doc: a chain
        steps:
          a: {sh: "echo a > a.txt", targets: [a.txt]}
          b: {sh: "cat a.txt > b.txt", deps: [a.txt], targets: [b.txt]}
          c: {sh: "cat b.txt > c.txt", deps: [b.txt], targets: [c.txt]}
          d: {sh: "true", after: [c]}
          e: {sh: "echo e > e.txt", targets: [e.txt]}
        """})
    exercises = list(helpers.load(root).values())
    found = edges.upstream(exercises, KINDS)
    assert found == {"ex:a": set(), "ex:b": {"ex:a"}, "ex:c": {"ex:a", "ex:b"},
                     "ex:d": {"ex:a", "ex:b", "ex:c"}, "ex:e": set()}


def test_upstream_sees_local_references_and_recipe_deps_on_records(tmp_path):
    root = write_project(tmp_path, {
        "exercises/ex/exercise.yml": """\
            doc: local references and records
            steps:
              image: {build: img, tag: "me/app:1"}
              question: {run: image, command: ["true"]}
              report:
                sh: "cat {state}/records/ex/question.json > report.txt"
                deps: ["{state}/records/ex/question.json"]
                targets: [report.txt]
            """,
        "exercises/ex/img/Dockerfile": "FROM scratch\n"})
    exercises = list(helpers.load(root).values())
    state = helpers.load_config(root).state
    found = edges.upstream(exercises, KINDS, state)
    assert found["ex:question"] == {"ex:image"}  # a local reference (run: image)
    assert found["ex:report"] == {"ex:question", "ex:image"}  # a dep on a record
    assert edges.upstream(exercises, KINDS)["ex:report"] == set()  # no state: no records


def test_a_cycle_is_one_paragraph_at_its_first_step_saying_what_to_remove(tmp_path):
    root = write_project(tmp_path, {"exercises/ex/exercise.yml": """\
        doc: a loop of after entries
        steps:
          a: {sh: "true", after: ["ex:b"]}
          b: {sh: "true", after: ["ex:a"]}
        """})
    err = helpers.spec_error(root)
    assert (err.where.line, err.where.key) == (3, "steps.a")
    assert err.problem == "the steps depend on each other in a cycle: ex:a -> ex:b -> ex:a."
    assert err.hint == "Remove one of these references or 'after' entries."
