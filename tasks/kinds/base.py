"""The step-kind interface: what a kind declares, and what the graph asks of it.

A kind is one module of this package holding a frozen ``Step`` subclass and a ``Kind``
subclass, registered with one line in ``tasks.kinds.KINDS``. Everything the rest of the
project needs to know about a kind, the kind declares here: the parser asks it to parse a
mapping (and the schema how its keys look); the graph asks it what the step uses and makes
(its edges), whether it needs the local registry, and for the doit fields only it knows
(actions, up-to-date checks, end-of-run clean-up); the picture asks its shape, the lock what
it keeps, the parser's messages its role words, ``doit shell`` how to open a shell in its
environment. No other module looks at a step's class or names a kind. Models: nox's session
registry, doit's one ``cmd_*.py`` per command, and snakemake's executor plugins (a small
declared interface that a new back end fills).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import (TYPE_CHECKING, Any, Callable, ClassVar, ContextManager, Generic, Literal,
                    Mapping, TypeVar)

from ..dsl.fields import Fields
from ..dsl.model import Exercise, LocalRef, Role, Step, normalize_ref
from ..errors import LockError

if TYPE_CHECKING:
    from ..engine.builders import Made
    from .runtime import Runtime

S = TypeVar("S", bound=Step)
KeyType = Literal["string", "strings", "mapping", "integer", "boolean", "command", "regexes",
                  "regex", "object"]


@dataclass(frozen=True)
class Key:
    """One key a kind accepts: declared once, for the parser, the schema and the docs.

    Attributes:
        name: the key as written in exercise.yml.
        type: its YAML shape (``strings``: one string or a list of them; ``command``: a list
            of words or one string split as a shell does; ``regexes``: one or a list).
        help: one line for editors (the JSON Schema) and the docs.
        required: the parser rejects a step without it.
        keys: for ``object``: the keys inside it.
    """

    name: str
    type: KeyType
    help: str
    required: bool = False
    keys: tuple["Key", ...] = ()


#: Keys every step accepts besides its kind's own.
COMMON_KEYS = (
    Key("doc", "string", "one line shown by `doit list --all`"),
    Key("after", "strings", "steps (`name` or `exercise:name`) that must run first; ordering only"),
)


@dataclass(frozen=True)
class Makes:
    """What a step puts into the world, for the edges of the steps that use it.

    Attributes:
        images: references of images it puts into the engine.
        files: files and folders it writes (targets, locks, wheelhouses).
        pushes: references it puts into a registry.
    """

    images: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    pushes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reads:
    """What a step reads that another step may make: each one is an edge when it is made.

    Attributes:
        images: image references it reads (a Dockerfile's FROM and COPY --from).
        pulls: references it pulls from a registry (made by another step's push).
        files: files it reads (recipe deps; another step's record or target).
        folders: folders whose files it reads (a build context).
    """

    images: tuple[str, ...] = ()
    pulls: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    folders: tuple[Path, ...] = ()


@dataclass(frozen=True)
class TaskContext:
    """What a kind may use to fill its doit fields: pure data, no I/O.

    Attributes:
        rt: the runtime that actions and checks receive.
        exercise: the step's exercise (to look up the steps it refers to).
        image_records: the record of the step that makes each image, by normalized reference.
    """

    rt: "Runtime"
    exercise: Exercise
    image_records: Mapping[str, Path] = field(default_factory=dict)

    def step(self, name: str) -> Step:
        """A step of this exercise, by name (references were checked by the parser)."""
        return self.exercise.steps[name]

    def maker_record(self, ref: str) -> Path | None:
        """The record of the step that makes image ``ref``, or None if no step does."""
        return self.image_records.get(normalize_ref(ref))


class Kind(Generic[S]):
    """A step kind. Subclasses set the class attributes and override what applies.

    Attributes:
        name: the kind's name, also ``Step.kind`` of its steps.
        keyword: the exercise.yml key that selects the kind (``build:``); two kinds may share
            one (``run:`` is a one-shot run or, with ``detach: true``, a service), and then
            ``selects`` decides.
        keys: the other keys it accepts, declared once (see ``Key``).
        provides: what other steps may ask of its steps (``run: X`` needs X to be an image).
        summary: one line for ``doit list`` defaults, the schema and the docs.
    """

    name: ClassVar[str]
    keyword: ClassVar[Key]
    keys: ClassVar[tuple[Key, ...]] = ()
    provides: ClassVar[frozenset[Role]] = frozenset()
    summary: ClassVar[str] = ""
    #: Keys that belong to a sibling kind of the same keyword: (problem, hint) to report
    #: instead of "unknown key" (``name:`` on a one-shot run: "only for services").
    misplaced: ClassVar[Mapping[str, tuple[str, str]]] = {}
    #: A kind whose steps only another kind's ``expand`` makes (never written in a spec):
    #: no keyword of the parser, no entry in the schema.
    internal: ClassVar[bool] = False
    #: What each role in ``provides`` is called in messages ("image archive"), for the roles
    #: this kind introduces; a role no kind names here is called by its own word.
    role_words: ClassVar[Mapping[Role, str]] = {}
    #: Its nodes' shape in ``doit graph``'s picture (a Graphviz shape name).
    shape: ClassVar[str] = "box"
    #: What ``ac295.lock`` keeps of its steps, in words, for the docs' table (default: the
    #: ``lock_fields``; "" and no fields: nothing).
    lock_doc: ClassVar[str] = ""

    # --- the spec -----------------------------------------------------------------------

    def selects(self, node: Mapping[str, Any]) -> bool:
        """True if this kind takes a mapping that holds its keyword (see ``keyword``)."""
        return True

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> S:
        """Build the step from its mapping; ``common`` holds the fields every step has.

        Raises:
            SpecError: with the file, line and key of the problem.
        """
        raise NotImplementedError

    def local_refs(self, step: S) -> list[LocalRef]:
        """The steps of the same exercise this step names, and what it needs of each."""
        return []

    def expand(self, step: S) -> list[Step]:
        """The steps one written step stands for: itself, or (a roster) one per entry too.
        The parser adds them to the exercise under their own names."""
        return [step]

    def schema(self, properties: dict[str, Any], required: list[str]) -> None:
        """Refine the JSON Schema of its steps in place: rules a key list cannot say (two
        kinds that share a keyword tell their steps apart by another key's value)."""

    def parse_inputs(self, step: S) -> tuple[Path, ...]:
        """The files besides exercise.yml that ``parse`` read or checked (a Dockerfile): the
        cache of parsed specs (``tasks.dsl.cache``) parses again when one changes."""
        return ()

    # --- the graph ----------------------------------------------------------------------

    def ephemeral(self, step: S) -> str:
        """Why the step makes nothing lasting (services, networks, phony recipes), or "".

        Ephemeral steps keep no record and run every time their task is asked for.
        """
        return ""

    def makes(self, step: S, exercise: Exercise) -> Makes:
        """What the step puts into the engine, the registry or the file system."""
        return Makes()

    def reads(self, step: S) -> Reads:
        """What the step reads that another step may make (beyond ``local_refs``)."""
        return Reads()

    def uses_registry(self, step: S, exercise: Exercise) -> bool:
        """True if the step talks to a registry (it pushes or pulls): with a registry this
        project runs itself, the graph then starts it first (a ``setup``)."""
        return bool(self.makes(step, exercise).pushes or self.reads(step).pulls)

    def outputs(self, step: S, record: Path) -> list[Path]:
        """The files that stand for the step's result: its record, unless ephemeral."""
        return [] if self.ephemeral(step) else [record]

    def task(self, step: S, ctx: TaskContext) -> dict[str, Any]:
        """The doit fields only this kind knows: actions, checks, setup, deps, and clean-up.

        Lists returned here (``file_dep``, ``targets``, ``uptodate``...) are appended to
        what the graph puts there itself (the record, the records of needed steps).
        """
        raise NotImplementedError

    #: The record fields that ``ac295.lock`` keeps for steps of this kind.
    lock_fields: ClassVar[tuple[str, ...]] = ()
    #: Fields of the notes that ``ac295.lock`` keeps when the notes hold them: facts that
    #: are the same on every machine only under some settings (the registry digest of an
    #: image from a reproducible builder).
    lock_if_noted: ClassVar[tuple[str, ...]] = ()

    def locks(self, step: S) -> bool:
        """True if ``ac295.lock`` keeps facts of this step."""
        return bool(self.lock_fields) and not self.ephemeral(step)

    def lock_facts(self, step: S, record: dict[str, Any] | None,
                   notes: dict[str, Any]) -> dict[str, Any] | None:
        """What ``ac295.lock`` keeps of the step: facts by content, the same on any machine
        that runs the same code (None: nothing). ``lock_fields`` are read from the record,
        or else from the notes beside it (an inputs digest).

        Raises:
            LockError: the step has not run (no record).
        """
        if not self.lock_fields or self.ephemeral(step):
            return None
        if record is None:
            raise LockError(f"{step.task} has no record; run it first.")
        facts = {key: record[key] if key in record else notes.get(key)
                 for key in self.lock_fields}
        facts.update({key: notes[key] for key in self.lock_if_noted if notes.get(key)})
        return facts

    def describe_lock(self) -> str:
        """What the lock keeps of its steps, for the docs' table ("" for nothing)."""
        return self.lock_doc or ", ".join(f"`{key}`" for key in self.lock_fields)

    # --- debugging --------------------------------------------------------------------

    def remake(self, step: S, ctx: TaskContext, folder: Path, export: Path) -> "Made | None":
        """Make the step's image once more for ``repro-check``, from copies of its inputs
        under ``folder`` (made for this one attempt), with no cache, into ``export`` (see
        ``tasks.engine.builders.Builder.build``); leave nothing else behind. None: the
        step makes no image."""
        return None

    def shell(self, step: S, ctx: TaskContext, request: "ShellRequest"
              ) -> ContextManager["Session"] | str:
        """How ``doit shell`` opens an interactive shell in the step's environment.

        Returns a context manager that sets the environment up (a container, a network, a
        VM; what it makes while ``request.setting_up()`` holds the run lock), yields the
        ``Session`` to run on the terminal, and removes what it made when it ends, whatever
        ends it; or, for a kind with no environment of its own, one line saying what to do
        instead ("open its image step's shell: ...").
        """
        return (f"{step.task} is a {self.name} step, which has no environment to open a shell "
                "in.")


@dataclass(frozen=True)
class ShellRequest:
    """What ``doit shell`` asks of a kind's ``shell`` hook.

    Attributes:
        own_command: run the step's own command (interactively) instead of a shell.
        setting_up: makes the context in which the hook sets the environment up: the
            project's run lock, so that a run in progress finishes first; the session
            itself runs without it, so runs may go on meanwhile.
    """

    own_command: bool = False
    setting_up: Callable[[], ContextManager[Any]] = contextlib.nullcontext


def _same(code: int) -> int:
    return code


@dataclass(frozen=True)
class Session:
    """An environment ready for a terminal.

    Attributes:
        argv: the command to run on the terminal (``docker start --attach --interactive``).
        what: one line, said before it opens: what the shell is in.
        exit_code: the shell's exit code, from the command's (a VM's qemu exits 0 whatever
            its shell did; the guest reports it).
    """

    argv: list[str]
    what: str
    exit_code: Callable[[int], int] = _same


@dataclass(frozen=True)
class ShellHook:
    """What ``doit shell TASK`` calls (a task's ``meta["ac295_shell"]``): the step's kind's
    ``shell`` hook, bound to the step and its exercise."""

    kind: "Kind[Any]"
    step: Step
    ctx: TaskContext

    def __call__(self, request: ShellRequest) -> ContextManager[Session] | str:
        return self.kind.shell(self.step, self.ctx, request)


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``extra``; lists are concatenated, dicts merged, others replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + value
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


@dataclass
class KindTable:
    """The table of kinds, by name; each kind module adds one line in ``tasks.kinds``."""

    kinds: dict[str, Kind[Any]] = field(default_factory=dict)

    def register(self, kind: Kind[Any]) -> Kind[Any]:
        """Add a kind. A second kind with the same name replaces the first (tests do this)."""
        self.kinds[kind.name] = kind
        return kind

    def __getitem__(self, name: str) -> Kind[Any]:
        return self.kinds[name]

    def __iter__(self) -> Any:
        return iter(self.kinds.values())

    def written(self) -> list[Kind[Any]]:
        """The kinds a spec can name (not the internal ones)."""
        return [k for k in self.kinds.values() if not k.internal]

    def of(self, step: Step) -> Kind[Any]:
        """The kind of a parsed step."""
        return self.kinds[step.kind]

    @property
    def keywords(self) -> tuple[str, ...]:
        """The keys that select a kind, in registration order, without repeats."""
        return tuple(dict.fromkeys(k.keyword.name for k in self.written()))

    def with_keyword(self, keyword: str) -> list[Kind[Any]]:
        """The written kinds selected by ``keyword`` (two for ``run:``)."""
        return [k for k in self.written() if k.keyword.name == keyword]

    def role_words(self, role: Role) -> str:
        """What a role is called in messages ("image archive"), as a kind declares it."""
        for kind in self.kinds.values():
            if role in kind.role_words:
                return kind.role_words[role]
        return role

    def makers(self, role: Role) -> list[str]:
        """The names of the written kinds that provide ``role``."""
        return sorted(k.name for k in self.written() if role in k.provides)
