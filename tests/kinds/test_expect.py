"""expect: comparing a command's outcome with the step's expectations (pure)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.errors import CheckFailed
from tasks.kinds.expect import Expect, verify

SPEC_FILE = Path("/p/exercises/ex/exercise.yml")


def check(expect: Expect, exit_code: int, stdout: str, stderr: str) -> None:
    verify("ex:question", expect, exit_code, stdout, stderr, SPEC_FILE)


# --- check -------------------------------------------------------------------------------

def test_check_passes():
    check(Expect(exit_code=0, stdout=(r"^Answer: \d+$",), stderr=("warn",)),
          0, "hello\nAnswer: 2640\nbye\n", "a warning\n")


def test_check_nonzero_exit_code_expected():
    check(Expect(exit_code=2), 2, "", "")


def test_exit_code_mismatch():
    with pytest.raises(CheckFailed) as info:
        check(Expect(), 1, "partial output\n", "Traceback: boom\n")
    message = str(info.value)
    assert "ex:question" in message
    assert "exit code 1, expected 0" in message
    assert str(SPEC_FILE) in message
    # The container's output is in the message, both streams.
    assert "--- stdout ---\npartial output" in message
    assert "--- stderr ---\nTraceback: boom" in message


def test_stdout_regex_missing():
    with pytest.raises(CheckFailed) as info:
        check(Expect(stdout=(r"^Answer: 2640$",)), 0, "Answer: 2641\n", "")
    assert "stdout does not match /^Answer: 2640$/" in str(info.value)
    assert "exit code" not in str(info.value).split("--- stdout")[0]
    assert "Answer: 2641" in str(info.value)


def test_stderr_regex_is_checked_on_stderr_only():
    with pytest.raises(CheckFailed, match="stderr does not match /warning/"):
        check(Expect(stderr=("warning",)), 0, "warning\n", "")


def test_every_problem_is_listed():
    with pytest.raises(CheckFailed) as info:
        check(Expect(exit_code=0, stdout=("a", "b")), 3, "b\n", "")
    message = str(info.value)
    assert "exit code 3, expected 0" in message and "stdout does not match /a/" in message
    assert "/b/" not in message


