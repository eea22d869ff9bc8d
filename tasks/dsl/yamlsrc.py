"""Read YAML while keeping the line of every mapping key, so errors can name file:line and key.

``yaml.safe_load`` forgets where things came from; this loader builds plain ``dict``/``list``
subclasses that remember the line of the node and of each key. Only the safe constructors are
used (no arbitrary Python objects), and duplicate keys are an error instead of "last one wins".
Scanning and parsing run in libyaml when PyYAML has it (``CSafeLoader``: its nodes carry the
same marks, at a tenth of the pure-Python parser's cost); the constructors are ours either way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError, Where


class LDict(dict):
    """A mapping from YAML that knows its own line and each key's line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 0
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        """Line of ``key`` if present, else the mapping's own line."""
        return self.key_lines.get(key, self.line)


class LList(list):
    """A sequence from YAML that knows its own line and each item's line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 0
        self.item_lines: list[int] = []


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """A safe loader (libyaml's when there is one) whose mappings and lists carry lines."""

    source: Path


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    result = LDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)  # `ports: {8082: 8082}`: YAML reads the key as a number
        if not isinstance(key, str):
            raise SpecError(Where(loader.source, line, str(key)), "keys must be strings.")
        if key in result:
            raise SpecError(Where(loader.source, line, key),
                            f"duplicate key '{key}' (first on line {result.key_lines[key]}).")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    result = LList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def read_utf8(path: Path) -> str:
    """The text of a file the spec names (exercise.yml, a Dockerfile, a requirements file).

    Raises:
        SpecError: it cannot be read, or it is not UTF-8: then at the line and column of the
            first byte that is not, saying which byte.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SpecError(Where(path, 1), f"cannot read the file: {err.strerror}.") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[:err.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise SpecError(Where(path, line), f"byte 0x{data[err.start]:02x} (column {column}) "
                        "is not UTF-8 text.", "Save the file as UTF-8 (an editor's "
                        "'encoding' setting; iconv -f latin1 -t utf-8 converts one).") from None


def load(path: Path) -> Any:
    """Parse one YAML file into LDict/LList/scalars.

    Raises:
        SpecError: the file is missing, unreadable or not valid YAML (with the line of the fault).
    """
    text = read_utf8(path)
    try:
        loader = _Loader(text)  # the Python reader rejects unprintable characters here ...
    except yaml.reader.ReaderError as err:
        raise _unprintable(path, text, err) from None
    loader.source = path
    try:
        return loader.get_single_data()
    except yaml.reader.ReaderError as err:  # ... and libyaml's while it scans
        raise _unprintable(path, text, err) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        problem = " ".join(str(err.problem or err).split())  # one paragraph
        lines = text.splitlines()
        here = lines[mark.line] if mark and mark.line < len(lines) else ""
        hint = ("YAML indents with spaces; this line holds a tab." if "\t" in here else "")
        raise SpecError(Where(path, line), f"not valid YAML: {problem}.", hint) from None
    except yaml.YAMLError as err:
        raise SpecError(Where(path, 1), f"not valid YAML: {' '.join(str(err).split())}."
                        ) from None
    finally:
        loader.dispose()


def _unprintable(path: Path, text: str, err: yaml.reader.ReaderError) -> SpecError:
    line = text[:err.position].count("\n") + 1
    character = err.character if isinstance(err.character, str) else chr(err.character)
    return SpecError(Where(path, line), f"not valid YAML: character {character!r} is not "
                     "allowed in a YAML file.")
