"""Exercise specs: ``exercises/<name>/exercise.yml`` parsed once into frozen, typed steps.

Everything a user can get wrong in one file is caught here, before any task runs: unknown keys
(with a "did you mean"), wrong types, unknown variables, missing files and references to no
step, or to a step that provides no such thing. Each error names the file, the line and the
key (see ``tasks.errors.SpecError``). Which keys a step may have, and how its values are read,
is each step kind's business: the kinds come in as a table (``tasks.kinds.KINDS``), so this
module knows no kind by name. References across exercises and cycles are the graph's
(``tasks.graph.edges.check``).
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Mapping, Protocol

from ..errors import SpecError, Where, did_you_mean
from ..names import DOIT_COMMANDS, PROJECT_COMMANDS, PROJECT_TASKS, RESERVED
from . import yamlsrc
from .config import Config
from .fields import Fields
from .model import Exercise, Role, Step

SPEC_FILE = "exercise.yml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NAME_RULE = ("ASCII letters (a-z, A-Z), digits, '_', '.' and '-', starting with a letter "
              "or digit")


#: Letters that NFKD does not take apart into an ASCII letter and an accent.
_SPELLED = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o",
                          "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "þ": "th"})


def _ascii_suggestion(name: str) -> str:
    """``name`` with accents dropped and other characters made '-' ('übung' -> 'ubung')."""
    spelled = name.translate(_SPELLED)
    plain = unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode()
    plain = re.sub(r"[^A-Za-z0-9_.-]+", "-", plain).strip("-._")
    return plain


def name_problem(name: str, what: str) -> tuple[str, str] | None:
    """Why ``name`` cannot name an exercise folder (``what``: "folder") or a step ("step"),
    as (problem, hint); None if it can.

    The names become doit task names, container and network names and file names: Docker
    takes only ASCII there, and a folder named after a command would be read as that command.
    """
    if not _NAME.match(name):
        odd = list(dict.fromkeys(c for c in name if not re.match(r"[A-Za-z0-9_.-]", c)))
        shown = ", ".join(repr(c) for c in odd) if odd else repr(name[:1])
        suggestion = _ascii_suggestion(name)
        problem = (f"the {what} name '{name}' cannot be used: {shown} "
                   + ("is" if len(odd) <= 1 else "are") + " not allowed"
                   + (" at the start" if not odd else "") + ".")
        hint = (f"It becomes a doit task and part of Docker container names, which take only "
                f"{_NAME_RULE}. Rename it"
                + (f", e.g. '{suggestion}'." if suggestion and suggestion != name else "."))
        return problem, hint
    if what != "folder":
        return None
    if name in DOIT_COMMANDS or name in PROJECT_COMMANDS:
        return (f"the folder name '{name}' is a command (`script/doit {name}`), so the "
                "exercise could never be run by its name.",
                "Rename the folder (reserved: " + ", ".join(sorted(RESERVED)) + ").")
    if name in PROJECT_TASKS:
        return (f"the folder name '{name}' is one of the project's own tasks (`script/doit "
                f"{name}`).", "Rename the folder (reserved: " + ", ".join(sorted(RESERVED))
                + ").")
    return None


class KindLookup(Protocol):
    """The table of kinds (``tasks.kinds.base.KindTable`` fills it)."""

    @property
    def keywords(self) -> tuple[str, ...]: ...

    def with_keyword(self, keyword: str) -> list[Any]: ...

    def of(self, step: Step) -> Any: ...

    def __iter__(self) -> Any: ...

    def written(self) -> list[Any]: ...

    def role_words(self, role: Role) -> str: ...

    def makers(self, role: Role) -> list[str]: ...


def exercise_files(root: Path) -> list[Path]:
    """Every ``exercises/*/exercise.yml`` of a project, sorted by exercise name."""
    return sorted((root / "exercises").glob(f"*/{SPEC_FILE}"), key=lambda p: p.parent.name)


def load_project(config: Config, kinds: KindLookup) -> list[Exercise]:
    """Load every ``exercises/*/exercise.yml``.

    Raises:
        SpecError: the first problem found, with file, line and key.
    """
    return [load_exercise(path, config, kinds) for path in exercise_files(config.root)]


def load_exercise(path: Path, config: Config, kinds: KindLookup) -> Exercise:
    """Parse one exercise.yml. References inside the exercise are checked here too."""
    name = path.parent.name
    problem = name_problem(name, "folder")
    if problem is not None:
        raise SpecError(Where(path, 1), *problem)
    data = yamlsrc.load(path)
    if not isinstance(data, yamlsrc.LDict):
        raise SpecError(Where(path, 1), "an exercise must be a mapping with 'doc' and 'steps'.")
    top = Fields(data, path, "", config.variables)
    top.reject_unknown(("doc", "steps"))
    doc = top.required("doc")
    steps_node = top.value("steps", dict, required=True)
    if not steps_node:
        raise SpecError(top.where("steps"), "an exercise needs steps.")
    steps: dict[str, Step] = {}
    for step_name, node in steps_node.items():
        where = Where(path, steps_node.line_of(step_name), f"steps.{step_name}")
        problem = name_problem(step_name, "step")
        if problem is not None:
            raise SpecError(where, *problem)
        if not isinstance(node, yamlsrc.LDict):
            raise SpecError(where, "a step must be a mapping with one of the keys "
                            + ", ".join(kinds.keywords) + ".")
        try:
            parsed = _parse_step(name, step_name, node, path, config.variables, kinds)
            for made in kinds.of(parsed).expand(parsed):
                if made.name in steps or (made.name != step_name and made.name in steps_node):
                    raise SpecError(where, f"step '{made.name}' (made by '{step_name}') "
                                    "has the name of another step.", "Rename one of them.")
                steps[made.name] = made
        except (OSError, ValueError) as err:  # a path the OS refuses (too long, a NUL, ...)
            reason = err.strerror if isinstance(err, OSError) else str(err)
            raise SpecError(where, f"a path in this step cannot be used: {reason}.",
                            "Name a plain path inside the exercise folder.") from None
    exercise = Exercise(name=name, doc=doc, folder=path.parent, file=path, steps=steps)
    _check_local_refs(exercise, kinds)
    return exercise


def select(node: Mapping[str, Any], f: Fields, kinds: KindLookup) -> Any:
    """The kind that takes a step's mapping: the one keyword it holds that is no other key.

    ``network:`` is a kind's keyword and also a key of ``run:``; a mapping with both is a run.
    Kinds that share a keyword (``run:``: a one-shot run or a service) choose by ``selects``.
    """
    present = [k for k in kinds.keywords if k in node]
    fitting = [k for k in present
               if all(other == k or any(other in {key.name for key in kind.keys}
                                        for kind in kinds.with_keyword(k))
                      for other in present)]
    if len(fitting) != 1:
        allowed = {key.name for kind in kinds.written() for key in (*kind.keys, kind.keyword)}
        unknown = [k for k in node if k not in allowed and k not in ("doc", "after")]
        if unknown and not present:
            raise SpecError(f.where(unknown[0]), f"unknown key '{unknown[0]}'.",
                            did_you_mean(unknown[0], kinds.keywords))
        found = " and ".join(f"'{k}'" for k in present) if present else "none"
        raise SpecError(Where(f.file, f.node.line, f.prefix), "a step needs exactly one kind, "
                        f"found {found}.", "Each step has exactly one of: "
                        + ", ".join(kinds.keywords) + ".")
    candidates = kinds.with_keyword(fitting[0])
    return next((kind for kind in candidates if kind.selects(node)), candidates[-1])


def _parse_step(exercise: str, name: str, node: yamlsrc.LDict, path: Path,
                variables: Mapping[str, str], kinds: KindLookup) -> Step:
    f = Fields(node, path, f"steps.{name}", variables)
    kind = select(node, f, kinds)
    for key in node:
        if key in kind.misplaced:
            problem, hint = kind.misplaced[key]
            raise SpecError(f.where(key), problem, hint)
    f.reject_unknown(tuple(k.name for k in (kind.keyword, *kind.keys)) + ("doc", "after"))
    common: dict[str, Any] = dict(
        exercise=exercise, name=name, where=Where(path, node.line, f.prefix),
        lines=_lines(node), doc=f.text("doc") or "",
        after=tuple(a if ":" in a else f"{exercise}:{a}" for a in f.texts("after")))
    return kind.parse(f, common, path.parent)


def _lines(node: yamlsrc.LDict) -> dict[str, int]:
    """The line of each key of a step, and of each item of its lists (``deps[1]``)."""
    lines = dict(node.key_lines)
    for key, value in node.items():
        if isinstance(value, yamlsrc.LList):
            lines.update({f"{key}[{i}]": line for i, line in enumerate(value.item_lines)})
    return lines


def _a(words: str) -> str:
    """``words`` with its article: "an image", "a network"."""
    return ("an " if words[:1] in "aeiou" else "a ") + words


def providers(exercise: Exercise, role: Role, kinds: KindLookup) -> Iterable[str]:
    """The names of the exercise's steps that provide ``role`` (an image, a network, a lock)."""
    return [n for n, s in exercise.steps.items() if role in kinds.of(s).provides]


def _check_local_refs(exercise: Exercise, kinds: KindLookup) -> None:
    for step in exercise.steps.values():
        for ref in kinds.of(step).local_refs(step):
            target = exercise.steps.get(ref.step)
            fitting = providers(exercise, ref.role, kinds)
            if target is None:
                hint = did_you_mean(ref.step, fitting) if fitting else \
                    f"This exercise has no step that makes {_a(kinds.role_words(ref.role))}."
                raise SpecError(step.at(ref.key), f"no step '{ref.step}' in this exercise.",
                                hint)
            if ref.role not in kinds.of(target).provides:
                raise SpecError(step.at(ref.key), f"step '{ref.step}' is a '{target.kind}' step, "
                                f"which makes no {kinds.role_words(ref.role)}.",
                                f"Refer to a {' or '.join(kinds.makers(ref.role))} step"
                                + (f" ({', '.join(fitting)})." if fitting else "."))
