"""The task graph as Graphviz DOT: laid out by `dot`, never by hand.

Steps are nodes, grouped per exercise, in the shape their kind declares (``Kind.shape``,
carried in the task's ``meta``); an edge from a step to one
that reads its result (a file_dep) is solid, an ordering edge (``after:``, a service a check
needs) dashed, the local registry a push or pull starts dotted. Colour says the status:
green up to date, orange will run, yellow runs only if an upstream result changes, grey runs
every time, red failed last time; the reason is the node's tooltip in the SVG.
"""
from __future__ import annotations

from typing import Any

from .explain import Status

COLOURS = {"fresh": "#c7e9c0", "run": "#fdae6b", "may": "#fee391", "always": "#d9d9d9"}
FAILED = "#fb6a4a"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def edges(tasks: dict[str, Any], names: set[str]) -> list[tuple[str, str, str]]:
    """(from, to, kind) between the named tasks: ``data``, ``order`` or ``setup``."""
    makers = {target: t.name for t in tasks.values() for target in t.targets}
    found = []
    for name in sorted(names):
        task = tasks[name]
        for path in sorted(task.file_dep):
            if path in makers and makers[path] in names:
                found.append((makers[path], name, "data"))
        found += [(dep, name, "order") for dep in task.task_dep
                  if dep in names and tasks[dep].actions]
        found += [(dep, name, "setup") for dep in task.setup_tasks if dep in names]
    return sorted(set(found))


def dot(tasks: dict[str, Any], statuses: dict[str, Status]) -> str:
    """The DOT text of the tasks that have a status (steps and project tasks with actions)."""
    names = {n for n in statuses if tasks[n].actions}
    clusters: dict[str, list[str]] = {}
    for name in sorted(names):
        group = name.split(":", 1)[0] if ":" in name else ""
        clusters.setdefault(group, []).append(name)
    lines = ["digraph ac295 {", '  rankdir=LR; compound=true; newrank=true;',
             '  node [style=filled, fontname="Helvetica", fontsize=11];',
             '  edge [color="#555555"];']
    for group, members in sorted(clusters.items()):
        indent = "  "
        if group:
            doc = (tasks[group].doc if group in tasks else "") or group
            lines += [f"  subgraph {_quote('cluster_' + group)} {{",
                      f"    label={_quote(group)}; tooltip={_quote(doc)}; style=rounded;"
                      ' color="#888888"; fontname="Helvetica";']
            indent = "    "
        for name in members:
            status = statuses[name]
            meta = tasks[name].meta or {}
            kind = meta.get("ac295_kind", "")
            label = name.split(":", 1)[1] if ":" in name else name
            colour = FAILED if status.failed else COLOURS[status.state]
            lines.append(f"{indent}{_quote(name)} [label={_quote(label + chr(10) + kind)}, "
                         f"shape={meta.get('ac295_shape', 'box')}, fillcolor={_quote(colour)}, "
                         f"tooltip={_quote(name + ': ' + status.line())}];")
        if group:
            lines.append("  }")
    styles = {"data": "solid", "order": "dashed", "setup": "dotted"}
    for source, target, kind in edges(tasks, names):
        lines.append(f"  {_quote(source)} -> {_quote(target)} [style={styles[kind]}];")
    lines += ['  subgraph cluster_legend { label="legend"; fontname="Helvetica";',
              '    node [shape=box, fontsize=9];']
    for state, colour in (("up to date", COLOURS["fresh"]), ("will run", COLOURS["run"]),
                          ("if upstream changes", COLOURS["may"]),
                          ("every time", COLOURS["always"]), ("failed last time", FAILED)):
        lines.append(f"    {_quote('legend ' + state)} [label={_quote(state)}, "
                     f"fillcolor={_quote(colour)}];")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"
