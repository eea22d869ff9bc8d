"""What the kinds' ``shell`` hooks share: the image a step made, the state a step failed in,
and a container made for a shell, with its network, removed when the shell ends.

Every hook that opens a container decides, under the run lock (``request.setting_up()``),
what the container is made of (a ``Plan``): the state the step failed in when it kept one
(``tasks.engine.evidence``), else the step's own environment. ``container_session`` then
makes it (and a network of its own when the step is on one, an empty volume of its own for
each named volume it mounts) and removes all of it when the shell ends.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Iterator, Mapping, Sequence

from ..engine import evidence, shells
from ..engine.options import ContainerOptions
from ..errors import ShellError
from ..names import shell_line
from ..progress import progress
from . import records
from ..dsl.model import Exercise
from .base import Session, ShellRequest
from .kept import prefix
from .runtime import Runtime


@dataclass(frozen=True)
class Plan:
    """What a shell's container is made of, and what it is in words.

    Attributes:
        image: the image id it is made from.
        what: what the shell is in ("a new container of exercise2:image's image ...").
        shell: a shell (True) or the image's command, or ``command``, through its
            entrypoint (False: ``doit shell -c``).
        network: the step's network, if it is on one: the shell gets a network of its own
            (the step's aliases on it), never the step's.
        failed: it is a failed state (the prompt says so).
    """

    image: str
    what: str
    shell: bool = True
    command: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    aliases: Sequence[str] = ()
    ports: Mapping[str, str] = field(default_factory=dict)
    options: ContainerOptions | None = None
    failed: bool = False


def recorded_image(rt: Runtime, task: str) -> str:
    """The engine's id of the image the image step ``task`` made, as its notes say.

    Raises:
        ShellError: the step has not run here, or the engine no longer has its image.
    """
    notes = records.read(records.local_of(rt.record_path(task))) or {}
    image_id = str(notes.get("image_id") or "")
    if not image_id or records.read(rt.record_path(task)) is None:
        raise ShellError(f"{task} has not made its image here (no record): run "
                         f"`script/doit {task}` first, then open the shell.")
    if rt.engine.image_id(image_id) is None:
        raise ShellError(f"the engine no longer has the image {task} made ({image_id[7:19]}): "
                         f"run `script/doit {task}` again, then open the shell.")
    return image_id


def failed_plan(rt: Runtime, task: str, request: ShellRequest, network: str | None = None,
                options: ContainerOptions | None = None) -> Plan | None:
    """The plan of a shell in the state ``task`` failed in, or None if it kept none.

    With ``-c``, the command that failed runs again; a build that failed at an instruction
    other than a command (``COPY``) has none to run.

    Raises:
        ShellError: ``-c``, and the failed state has no command to run again.
    """
    found = evidence.find(rt.engine, task)
    if found is None:
        return None
    if request.own_command and not found.rerun:
        raise ShellError(f"{task} failed at an instruction that is no command "
                         f"({found.what}); open a shell in the state before it: "
                         f"{shell_line(task)}")
    return Plan(image=found.id, what=f"the state {task} failed in, kept as "
                f"{found.name or found.id[7:19]} ({found.what})", shell=not request.own_command,
                network=network, options=options, failed=True)


def image_plan(rt: Runtime, task: str, request: ShellRequest) -> Plan:
    """A new container of the image step ``task``'s image (``-c``: its own command); the
    failed state instead when the step kept one."""
    failed = failed_plan(rt, task, request)
    if failed is not None:
        return failed
    image_id = recorded_image(rt, task)
    info = rt.engine.info(image_id)
    tags = [t for t in (info.tags if info else []) if ":in-" not in t]
    tag = tags[0] if tags else image_id[7:19]
    return Plan(image=image_id, what=f"a new container of {task}'s image ({tag})",
                shell=not request.own_command)


@contextlib.contextmanager
def container_session(rt: Runtime, task: str, request: ShellRequest,
                      plan_for: Callable[[], Plan]) -> Iterator[Session]:
    """A container for a shell in ``task``'s environment, as ``plan_for()`` decides under
    the run lock; its network (if any) and itself are removed when the block ends."""
    with contextlib.ExitStack() as made:
        with request.setting_up():
            shells.sweep_dead(rt.engine, progress)
            plan = plan_for()
            labels = rt.engine.labels(task, **{shells.LABEL_SHELL: str(os.getpid())})
            network = None
            if plan.network:
                network = made.enter_context(shells.network(
                    rt.engine, shells.name_for(prefix(rt), plan.network), labels))
            options = plan.options
            if options is not None and any(not m.bind for m in options.mounts):
                options = dataclasses.replace(options, mounts=tuple(
                    m if m.bind else dataclasses.replace(m, source=made.enter_context(
                        shells.volume(rt.engine, shells.name_for(prefix(rt), m.source),
                                      labels)))
                    for m in options.mounts))
            box = shells.Box(image=plan.image, name=shells.name_for(prefix(rt), task),
                             hostname=shells.hostname_for(task, plan.failed), shell=plan.shell,
                             command=plan.command, env=plan.env, network=network,
                             aliases=plan.aliases, ports=plan.ports, options=options)
            argv = made.enter_context(shells.container(rt.engine, box, labels))
        yield Session(argv, plan.what + (f", on a network of its own ({network})"
                                         if network else ""))


def no_command(task: str, request: ShellRequest, what: str) -> None:
    """Refuse ``-c`` for a step that has no command of its own.

    Raises:
        ShellError: it was asked for.
    """
    if request.own_command:
        raise ShellError(f"{task} is {what}, with no command of its own to run: drop -c for "
                         f"a shell ({shell_line(task)}).")


def image_shell(rt: Runtime, task: str, request: ShellRequest) -> ContextManager[Session]:
    """The shell of an image step (build, pull, commit, import): ``image_plan``'s container."""
    return container_session(rt, task, request, lambda: image_plan(rt, task, request))


def users_of(exercise: Exercise, name: str, role: str) -> list[str]:
    """The tasks of the steps of ``exercise`` that use step ``name`` as ``role`` (the steps
    on a network, the VMs a kernel boots), as their kinds declare it."""
    from . import KINDS  # the table imports every kind module, this one's users included

    return [s.task for s in exercise.steps.values()
            if any(r.step == name and r.role == role for r in KINDS.of(s).local_refs(s))]


def instead(task: str, what: str, others: Sequence[str], whose: str) -> str:
    """The one line of a step with no environment: what it is, and the shell to open
    instead (``others``' first), or what to do."""
    if others:
        return f"{task} {what}, with no environment of its own; open {whose}: " \
               f"{shell_line(others[0])}"
    return f"{task} {what}, with no environment of its own."
