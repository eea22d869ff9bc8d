"""The one way recipes run: the shell commands of ``sh:`` and ``measure:`` steps, and the
``recipe:`` of an ``import:``.

A command runs in its exercise folder (as a Makefile's rules run in theirs) with no input (a
recipe that asks a question would otherwise wait forever under doit), its output shown line by
line as it comes, through ``progress``, so that it stays in order with the step's other lines
and ends before the run's summary. A failure names the step, the command and its exit code,
quotes the last lines, and says where to fix it. Ctrl-C or SIGTERM stops the command too.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from .. import process
from ..errors import RecipeError
from ..progress import progress

#: Lines of a failed recipe's output quoted in its error.
TAIL = 15


def run(command: str, cwd: Path, task: str, spec_file: Path, key: str) -> None:
    """Run one recipe command with ``/bin/sh`` in ``cwd``, showing its output as it comes.

    Args:
        command: the command line, variables already expanded and quoted.
        cwd: the exercise folder.
        task: the step's task name, for the error.
        spec_file: the exercise.yml that holds the command, for the error.
        key: the key that holds the command (``sh``, ``recipe``), for the error.

    Raises:
        RecipeError: the command exited non-zero, or could not start.
    """
    progress(f"$ {command}")
    tail: list[str] = []
    try:
        proc = subprocess.Popen(command, shell=True, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace")
    except OSError as err:
        raise RecipeError(f"{task}: cannot run the recipe in {cwd}: {err.strerror or err}."
                          ) from None
    with proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                progress(line)
                tail = (tail + [line.rstrip()])[-TAIL:]
        except BaseException:  # Ctrl-C or SIGTERM: stop the recipe too, let it clean up
            process.stop(proc)
            raise
    if proc.returncode != 0:
        quoted = ("\n" + "\n".join(tail)) if tail else " (it printed nothing)"
        raise RecipeError(f"{task}: the recipe failed (exit {proc.returncode}): {command}"
                          f"{quoted}\nFix the command or what it reads ('{key}:' in "
                          f"{spec_file}), or run it by hand in {cwd} to look closer.")
