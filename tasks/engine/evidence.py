"""What a failed step leaves to look at: the state it failed in, kept as one labelled image.

A failed one-shot run or commit keeps its container, committed to an image (its files as the
command left them, its environment, its working folder); a failed build keeps the last layer
it made (the state before the instruction that failed). Either way the evidence is one image
per step and project copy:

- named ``<local_prefix>ac295-failed:<exercise>.<step>`` (so ``docker images`` shows it);
- labelled with the task and the project copy (``org.ac295.task``, ``org.ac295.project``),
  and ``org.ac295.failed`` saying what failed, in words;
- whose default command is the command that failed when there was one (``doit shell -c``
  runs it again), with ``org.ac295.failed.rerun`` set to "1" then.

Its ``org.ac295.made`` label is emptied: labels are inherited, and an evidence image must
never be taken for an image a step made. The step's next run removes it first (one piece of
evidence per step at most), ``prune`` removes every one, and ``doit shell`` opens a new
container of it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .boundary import translated
from .client import LABEL_MADE, LABEL_PROJECT, LABEL_TASK, Engine
from .refs import repository_tag
from ..progress import Progress

#: What failed, in words, on an evidence image (its presence marks one).
LABEL_FAILED = "org.ac295.failed"
#: "1" when the evidence's default command is the command that failed.
LABEL_RERUN = "org.ac295.failed.rerun"
#: The repository of evidence images, after the local prefix.
REPOSITORY = "ac295-failed"


@dataclass(frozen=True)
class Evidence:
    """A failed step's kept state, as the engine lists it."""

    id: str
    task: str
    what: str  # what failed, in words
    rerun: bool  # its default command is the command that failed
    name: str = ""  # its tag, if it still has one
    created: int = 0


def reference(prefix: str, task: str) -> str:
    """The name of a task's evidence image: ``<prefix>ac295-failed:<exercise>.<step>``.

    Docker's rules: a repository is lower case, a tag at most 128 of ``[A-Za-z0-9_.-]``;
    anything else becomes "-".
    """
    repository = re.sub(r"[^a-z0-9._/-]+", "-", f"{prefix}{REPOSITORY}".lower()).strip("-._/")
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "-", task.replace(":", ".", 1)).lstrip(".-")[:128]
    return f"{repository or REPOSITORY}:{tag or 'step'}"


def said(text: str) -> str:
    """``text`` as one short line that a Dockerfile ``LABEL`` keeps as it is."""
    line = " ".join(text.split())
    return line.replace("\\", "/").replace('"', "'")[:300]


def changes(task: str, project: str, what: str, reruns: bool,
            command: Sequence[str] | None = None) -> list[str]:
    """The Dockerfile instructions a commit applies to make an image evidence: its labels,
    and ``command`` (the command that failed) as its default command, with no entrypoint:
    it runs as it ran."""
    found = [f'LABEL {LABEL_MADE}=""', f'LABEL {LABEL_TASK}="{said(task)}"',
             f'LABEL {LABEL_PROJECT}="{said(project)}"', f'LABEL {LABEL_FAILED}="{said(what)}"',
             f'LABEL {LABEL_RERUN}="{"1" if reruns else ""}"']
    if command is not None:
        found += ["ENTRYPOINT []", f"CMD {json.dumps(list(command))}"]
    return found


@dataclass(frozen=True)
class Keep:
    """What a step that runs a container keeps when it fails.

    Attributes:
        task: the step's task.
        ref: the evidence's name (``reference``).
        judge: the failure of an outcome in words ("exit code 1, expected 0"), or "" when
            the outcome is no failure.
    """

    task: str
    ref: str
    judge: Callable[[Any], str]

    def outcome(self, engine: Engine, container_id: str, outcome: Any,
                progress: Progress) -> str | None:
        """Keep the container if its outcome is a failure; the evidence's id, or None."""
        what = self.judge(outcome)
        return keep_container(engine, container_id, self.task, self.ref, what, progress) \
            if what else None

    def layer(self, engine: Engine, layer_id: str, what: str, command: Sequence[str] | None,
              progress: Progress) -> str | None:
        """Keep the last layer a failed build reached (see ``keep_layer``)."""
        return keep_layer(engine, layer_id, self.task, self.ref, what, progress, command)

    def timeout(self, engine: Engine, container_id: str, progress: Progress) -> str | None:
        """Keep a container that did not finish in time (paused while it is committed)."""
        return keep_container(engine, container_id, self.task, self.ref,
                              "it did not finish in time", progress)


def keep_container(engine: Engine, container_id: str, task: str, ref: str, what: str,
                   progress: Progress) -> str | None:
    """Commit a failed container as ``task``'s evidence (its earlier evidence goes first);
    its own command is the command that failed.

    Keeping is a courtesy to the person who debugs: if the engine refuses, the step's own
    error stands. Returns the evidence image's id, or None if it could not be kept.
    """
    return _commit(engine, container_id, task, ref, changes(task, engine.project, what, True),
                   progress)


@translated
def keep_layer(engine: Engine, layer_id: str, task: str, ref: str, what: str,
               progress: Progress, command: Sequence[str] | None = None) -> str | None:
    """Keep a layer a failed build made (an image the builder committed) as ``task``'s
    evidence, with ``command`` (the instruction that failed, if it was a command) as its
    default: a container of the layer is created (never started), committed with the
    evidence's labels, and removed. The layers under it stay while it does; removing it
    removes them (untagged parents go with their last child)."""
    container = engine.client.api.create_container(
        layer_id, command=["true"], labels=engine.labels(task))["Id"]
    try:
        return _commit(engine, container, task, ref,
                       changes(task, engine.project, what, command is not None, command),
                       progress)
    finally:
        engine.client.api.remove_container(container, force=True)


@translated
def _commit(engine: Engine, container_id: str, task: str, ref: str, instructions: list[str],
            progress: Progress) -> str | None:
    import docker.errors

    clear(engine, task, ref)  # the name moves to the new one: the old one must go first
    repository, tag = repository_tag(ref)
    try:
        made = engine.client.api.commit(container_id, repository=repository, tag=tag,
                                        message=f"ac295 failed {task}", changes=instructions)
    except docker.errors.APIError as err:
        progress(f"(the failed state of {task} could not be kept: {err.explanation or err})")
        return None
    return str(made.get("Id", ""))  # the step's error says where it is


def _evidence(image: Mapping[str, Any]) -> Evidence:
    labels = image.get("Labels") or {}
    names = [n for n in image.get("RepoTags") or [] if n != "<none>:<none>"]
    return Evidence(id=str(image.get("Id", "")), task=labels.get(LABEL_TASK, "?"),
                    what=labels.get(LABEL_FAILED, ""), rerun=labels.get(LABEL_RERUN) == "1",
                    name=names[0] if names else "", created=int(image.get("Created") or 0))


@translated
def listed(engine: Engine, task: str | None = None) -> list[Evidence]:
    """This project copy's evidence images (of ``task``, or of every step), newest first."""
    wanted = [LABEL_FAILED, f"{LABEL_PROJECT}={engine.project}"]
    if task is not None:
        wanted.append(f"{LABEL_TASK}={task}")
    found = [_evidence(i) for i in engine.client.api.images(filters={"label": wanted})]
    return sorted((e for e in found if e.what), key=lambda e: e.created, reverse=True)


def find(engine: Engine, task: str) -> Evidence | None:
    """``task``'s evidence, or None."""
    found = listed(engine, task)
    return found[0] if found else None


@translated
def clear(engine: Engine, task: str, ref: str) -> bool:
    """Remove ``task``'s evidence, found by its name ``ref``: one inspect when there is none,
    as for nearly every step that runs (a step that runs again replaces its evidence).

    An image of that name that is not this copy's evidence of ``task`` is left alone, and so
    is one a shell still uses (the engine refuses); ``prune`` finds those by their labels.
    """
    found = engine.refresh(ref)
    if found is None or not found.labels.get(LABEL_FAILED) or \
            found.labels.get(LABEL_PROJECT) != engine.project or \
            found.labels.get(LABEL_TASK) != task:
        return False
    import docker.errors  # only now: a step with no evidence does not import the SDK

    try:
        engine.client.api.remove_image(found.id, force=True, noprune=False)
    except docker.errors.APIError:
        return False
    engine.refresh(ref)  # forget what was learnt of it
    return True
