"""A cache of parsed exercises, so that a run parses only the exercise.yml files that changed.

Parsing is most of what loading a project costs (1000 exercises: about a second of YAML,
path resolution and checks). The cache is one pickle under ``<state>/cache/specs.pickle``:
for each exercise.yml, the parsed ``Exercise`` and the key it was parsed under. An entry is
used only when its key is equal now:

- the (size, mtime_ns, ctime_ns, inode) of exercise.yml, of its folder (files added or
  removed), and of every file its kinds read or checked while parsing
  (``Kind.parse_inputs``: a Dockerfile, a requirements file; a missing one counts as
  missing). The ctime sees an edit whose mtime was set back (``touch -d``, ``cp -p``);
- a parse is not kept while one of those files changed in the last two seconds: file
  times move in clock ticks, and an edit in the same tick as the parse would keep the key
  (git's "racy clean" problem, solved the same way);
- the variables (the spec expands them while parsing);
- the parser's version: the (size, mtime_ns, ctime_ns) of every loaded module of this
  package and of each kind's module, so an edited parser or kind never reads an old parse.

Stale or corrupt is safe: an entry whose key differs is parsed again, and a cache that
cannot be read (truncated, another Python, a class renamed) is ignored and rewritten.
The file is replaced atomically, so a killed run leaves the old cache or the new one.
Errors are never cached: a broken exercise is parsed (and reported) on every run.

Only this project's runs write the state folder, as they write doit's database there; the
pickle is as trusted as the rest of the project copy.
"""
from __future__ import annotations

import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from .model import Exercise

#: Bumped when the layout of the cache file changes.
FORMAT = 1
#: A file changed this recently (ns) may change again within the same clock tick.
RACY_NS = 2_000_000_000
_Stat = tuple[int, int, int, int] | None


def _stat(path: Path) -> _Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def parser_version(extra_modules: Iterable[str] = ()) -> tuple[Any, ...]:
    """The (size, mtime_ns, ctime_ns) of the loaded modules of this package and of
    ``extra_modules`` (kinds defined elsewhere, as tests do)."""
    package = __name__.split(".", 1)[0]
    names = sorted({m for m in sys.modules if m == package or m.startswith(package + ".")}
                   | set(extra_modules))
    version: list[Any] = [FORMAT, sys.version_info[:2]]
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        st = _stat(Path(file)) if file else None
        version.append((name, st[:3] if st else None))
    return tuple(version)


class SpecCache:
    """Parsed exercises by exercise.yml path, valid while their key holds (see the module)."""

    def __init__(self, path: Path, version: tuple[Any, ...], variables: dict[str, str]) -> None:
        self.path = path
        self.version = version
        self.variables = tuple(sorted(variables.items()))
        self.entries: dict[str, tuple[Any, Exercise]] = self._read()
        self.changed = False

    def _read(self) -> dict[str, tuple[Any, Exercise]]:
        try:
            with open(self.path, "rb") as handle:
                data = pickle.load(handle)
            if data["version"] == self.version and data["variables"] == self.variables:
                return dict(data["entries"])
        except Exception:  # noqa: BLE001 - any unreadable cache is no cache
            pass
        return {}

    def get(self, file: Path, inputs_of: Callable[[Exercise], Iterable[Path]]
            ) -> Exercise | None:
        """The cached parse of ``file``, if its key still holds."""
        entry = self.entries.get(str(file))
        if entry is None:
            return None
        key, exercise = entry
        if key != self._key(file, inputs_of(exercise)):
            return None
        return exercise

    def put(self, file: Path, exercise: Exercise, inputs: Iterable[Path]) -> None:
        """Remember a fresh parse, keyed by its files as they are now (not if just edited)."""
        key = self._key(file, inputs)
        stats = [key[0], key[1], *(st for _, st in key[2])]
        newest = max((max(st[1], st[2]) for st in stats if st), default=0)
        if time.time_ns() - newest < RACY_NS:
            self.entries.pop(str(file), None)
            self.changed = True
            return
        self.entries[str(file)] = (key, exercise)
        self.changed = True

    def forget_others(self, files: Iterable[Path]) -> None:
        """Drop the entries of exercise.yml files that are gone."""
        keep = {str(f) for f in files}
        gone = [name for name in self.entries if name not in keep]
        for name in gone:
            del self.entries[name]
        self.changed = self.changed or bool(gone)

    def save(self) -> None:
        """Write the cache if it changed (atomically; a failure only costs the next run)."""
        if not self.changed:
            return
        data = {"version": self.version, "variables": self.variables, "entries": self.entries}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _key(file: Path, inputs: Iterable[Path]) -> tuple[Any, ...]:
        return (_stat(file), _stat(file.parent), tuple((str(p), _stat(p)) for p in inputs))
