"""The picture's DOT text, on doit's own Task objects: the expected text is written here."""
from __future__ import annotations

from doit.task import Task

from tasks.graph import picture
from tasks.graph.explain import Status


def task(name: str, *, file_dep=(), targets=(), task_dep=(), setup=(), actions=("true",),
         meta=None, doc="") -> Task:
    return Task(name, list(actions), file_dep=list(file_dep), targets=list(targets),
                task_dep=list(task_dep), setup=list(setup), meta=meta, doc=doc)


TASKS = {t.name: t for t in (
    task("ex", actions=(), doc='Exercise "2"\nsecond line'),
    task("ex:image", targets=["/s/image.json"], meta={"ac295_kind": "build",
                                                      "ac295_shape": "box3d"}),
    task("ex:push", file_dep=["/s/image.json", "/x/other"], setup=["registry_start"],
         task_dep=["ex:image", "ex"], meta={"ac295_kind": "push", "ac295_shape": "house"}),
    task("registry_start"),
)}
STATUSES = {"ex": Status("ex"), "ex:image": Status("ex:image", "run", ["Question.py changed"]),
            "ex:push": Status("ex:push", "may", ["only if ex:image makes a different result"],
                              failed="push failed\nmore"),
            "registry_start": Status("registry_start", "always", ["a service"])}


def test_edges_join_makers_to_readers_by_kind():
    names = {"ex:image", "ex:push", "registry_start"}
    assert picture.edges(TASKS, names) == [
        ("ex:image", "ex:push", "data"), ("ex:image", "ex:push", "order"),
        ("registry_start", "ex:push", "setup")]
    assert picture.edges(TASKS, {"ex:push", "registry_start"}) == [
        ("registry_start", "ex:push", "setup")]  # no node, no edge


def test_quoting_keeps_dot_text_one_string():
    assert picture._quote('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c d"'


def test_the_dot_text():
    assert picture.dot(TASKS, STATUSES) == '''\
digraph ac295 {
  rankdir=LR; compound=true; newrank=true;
  node [style=filled, fontname="Helvetica", fontsize=11];
  edge [color="#555555"];
  "registry_start" [label="registry_start ", shape=box, fillcolor="#d9d9d9", \
tooltip="registry_start: runs every time: a service"];
  subgraph "cluster_ex" {
    label="ex"; tooltip="Exercise \\"2\\""; style=rounded; color="#888888"; \
fontname="Helvetica";
    "ex:image" [label="image build", shape=box3d, fillcolor="#fdae6b", \
tooltip="ex:image: will run: Question.py changed"];
    "ex:push" [label="push push", shape=house, fillcolor="#fb6a4a", \
tooltip="ex:push: may run: only if ex:image makes a different result"];
  }
  "ex:image" -> "ex:push" [style=solid];
  "ex:image" -> "ex:push" [style=dashed];
  "registry_start" -> "ex:push" [style=dotted];
  subgraph cluster_legend { label="legend"; fontname="Helvetica";
    node [shape=box, fontsize=9];
    "legend up to date" [label="up to date", fillcolor="#c7e9c0"];
    "legend will run" [label="will run", fillcolor="#fdae6b"];
    "legend if upstream changes" [label="if upstream changes", fillcolor="#fee391"];
    "legend every time" [label="every time", fillcolor="#d9d9d9"];
    "legend failed last time" [label="failed last time", fillcolor="#fb6a4a"];
  }
}
'''


def test_a_group_without_a_task_or_doc_is_labelled_by_its_name():
    tasks = {"other:run": task("other:run", meta={})}
    text = picture.dot(tasks, {"other:run": Status("other:run")})
    assert '    label="other"; tooltip="other"; style=rounded;' in text
    assert '"other:run" [label="run ", shape=box, fillcolor="#c7e9c0",' in text
    assert picture.dot({"g": task("g", actions=())}, {"g": Status("g")}).count("->") == 0
