"""The parts of the docs made from the step kinds, so that they cannot drift from the code.

- ``docs/exercise.schema.json``: the JSON Schema of exercise.yml (``tasks.kinds.schema``);
- the table of what ``ac295.lock`` keeps of each kind, in ``docs/reruns.md`` between the
  markers ``<!-- lock-table -->`` and ``<!-- /lock-table -->`` (each kind's ``lock_doc`` or
  ``lock_fields``).

``python -m tasks.kinds.reference`` writes both; the tests fail with that command when the
committed files differ from what the kinds make now.
"""
from __future__ import annotations

import re
from pathlib import Path

from . import KINDS, schema
from .base import KindTable

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "exercise.schema.json"
RERUNS_PAGE = ROOT / "docs" / "reruns.md"
#: The command that writes every generated part (the tests name it when one is stale).
COMMAND = ".venv/bin/python -m tasks.kinds.reference"
_TABLE = re.compile(r"(<!-- lock-table -->\n)(.*?)(<!-- /lock-table -->)", re.DOTALL)


def lock_table(kinds: KindTable = KINDS) -> str:
    """The Markdown table: each kind whose steps the lock keeps, and what it keeps."""
    rows = [(kind.name, kind.describe_lock()) for kind in kinds]
    lines = ["| step kind | what `ac295.lock` keeps |", "|---|---|"]
    lines += [f"| {name} | {facts} |" for name, facts in rows if facts]
    kept_none = sorted(name for name, facts in rows if not facts)
    lines += ["", "Nothing of " + ", ".join(kept_none) + " steps (live systems, measurements, "
              "or facts about someone else's image now)."]
    return "\n".join(lines) + "\n"


def with_lock_table(page: str, kinds: KindTable = KINDS) -> str:
    """``page`` with the table between its markers made anew.

    Raises:
        ValueError: the page has no markers.
    """
    if not _TABLE.search(page):
        raise ValueError("no <!-- lock-table --> ... <!-- /lock-table --> markers")
    return _TABLE.sub(lambda m: m.group(1) + lock_table(kinds) + m.group(3), page, count=1)


def write(root: Path = ROOT, kinds: KindTable = KINDS) -> list[Path]:
    """Write every generated part under ``root``; return the files that changed."""
    changed = []
    schema_file = root / SCHEMA_FILE.relative_to(ROOT)
    reruns = root / RERUNS_PAGE.relative_to(ROOT)
    for path, text in ((schema_file, schema.text(kinds)),
                       (reruns, with_lock_table(reruns.read_text(encoding="utf-8"), kinds))):
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":  # pragma: no cover - `python -m tasks.kinds.reference`
    import sys

    written = write()
    sys.stdout.write("".join(f"wrote {p.relative_to(ROOT)}\n" for p in written)
                     or "the generated docs were up to date\n")
