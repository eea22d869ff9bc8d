"""How long work says what it is doing: one ``Progress`` type, one printer, one ANSI stripper.

Engine and venv functions take a ``Progress`` callable (a line at a time) so they stay free of
doit; the kinds pass them ``progress``, which writes to a Python action's stdout, which is what
doit shows (or captures). Library code never ``print``s.
"""
from __future__ import annotations

import re
import sys
from typing import Callable

#: Where a long operation reports, one line per call (see ``progress``).
Progress = Callable[[str], None]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def plain(text: str) -> str:
    """``text`` without terminal escape codes (colours, cursor moves, window titles), so that
    a message or a log line reads the same anywhere."""
    return _ANSI.sub("", text)


def progress(line: str) -> None:
    """Report progress through doit: a Python action's stdout is what doit shows or captures.

    A line that starts with a carriage return is a meter (a layer's bytes pushed so far): on a
    terminal it replaces itself in place; elsewhere (a CI log, a pipe) it is left out, and the
    other lines lose their escape codes, so that the log stays quiet and readable.
    """
    tty = sys.stdout.isatty()
    if line.startswith("\r"):
        if tty:
            sys.stdout.write("\r" + line[1:].rstrip("\n")[:100] + "\x1b[K")
            sys.stdout.flush()
        return
    text = line.rstrip("\n")
    sys.stdout.write(("\r\x1b[K" + text if tty else plain(text)) + "\n")
    sys.stdout.flush()
