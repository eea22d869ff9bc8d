"""Identity by content on the real engine: a moved registry renames but rebuilds nothing, and
an image read only through `COPY --from` is an edge and an input."""
from __future__ import annotations

from clones import clone

# The steps of exercise1 and exercise2 that talk to a registry (written by hand, from the
# specs): moving the registry may rerun these and nothing else.
PUSHES = {"upstream:push", "exercise1:push", "exercise2:push"}
PULLS = {"exercise1:upstream", "exercise1:pushed"}


def test_moving_the_registry_reruns_pushes_and_pulls_only(project, make_registry) -> None:
    project.doit("exercise1", "exercise2")
    other = make_registry()
    moved = project.doit("exercise1", "exercise2", f"registry={other.host}",
                         "registry_service=external")
    assert set(moved.executed) <= PUSHES | PULLS, moved.executed
    assert PUSHES <= set(moved.executed)  # the new registry was empty
    back = project.doit("exercise1", "exercise2")
    assert back.executed == []  # the old registry still serves the same manifests


COPY_FROM = """\
doc: a file copied out of exercise 2's image
steps:
  image:
    build: .
    tag: "{local_prefix}copyfrom:1"
    args: {BASE_IMAGE: "{base_image}"}
  show:
    run: image
    command: [cat, /q.py]
"""


def test_an_image_read_by_copy_from_is_an_edge_and_an_input(tmp_path, make_registry) -> None:
    registry = make_registry()
    project = clone(tmp_path, registry.host)
    folder = project.root / "exercises/copyfrom"
    folder.mkdir()
    (folder / "exercise.yml").write_text(COPY_FROM)
    source = f"{project.registry}/{project.hub_user}/ac295_playground:exercise2"
    (folder / "Dockerfile").write_text(f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\n"
                                       f"COPY --from={source} /app/Question.py /q.py\n")
    first = project.doit("copyfrom")
    assert "exercise2:image" in first.executed  # an edge: its maker ran first
    assert "def sum_square_difference" in first.stdout
    question = project.root / "exercises/exercise2/Question.py"
    question.write_text(question.read_text() + "# edited upstream\n")
    second = project.doit("copyfrom")
    assert {"exercise2:image", "copyfrom:image", "copyfrom:show"} <= set(second.executed)
    assert "# edited upstream" in second.stdout
    assert project.doit("copyfrom").executed == []
