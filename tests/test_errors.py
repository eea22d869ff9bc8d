"""The errors module: did_you_mean and how SpecError renders its place."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.errors import Ac295Error, SpecError, Where, did_you_mean


@pytest.mark.parametrize("word, choices, suggestion", [
    ("tagg", ["tag", "dockerfile", "args"], "tag"),
    ("buld", ["build", "import", "run", "push", "sh"], "build"),
    ("steps", ["doc", "steps"], "steps"),
    ("hub_usr", ["registry", "hub_user", "state"], "hub_user"),
])
def test_close_word_is_suggested(word, choices, suggestion):
    assert did_you_mean(word, choices) == f"Did you mean '{suggestion}'?"


def test_closest_of_several_wins():
    assert did_you_mean("stdot", ["stderr", "stdout", "exit_code"]) == "Did you mean 'stdout'?"


def test_no_close_word_lists_the_allowed_ones_sorted():
    assert did_you_mean("zzz", ["tag", "args", "dockerfile"]) == \
        "Allowed: 'args', 'dockerfile', 'tag'."


def test_accepts_any_iterable():
    assert did_you_mean("tga", (k for k in {"tag": 1})) == "Did you mean 'tag'?"
    assert did_you_mean("x", {}) == "Allowed: ."


def test_spec_error_message_and_context():
    where = Where(Path("ex/exercise.yml"), 7, "steps.image.tagg")
    err = SpecError(where, "unknown key 'tagg'.", "Did you mean 'tag'?")
    assert isinstance(err, Ac295Error)
    assert str(err) == ("ex/exercise.yml:7 (key 'steps.image.tagg'): unknown key 'tagg'. "
                        "Did you mean 'tag'?")
    assert (err.where, err.problem, err.hint) == (where, "unknown key 'tagg'.",
                                                  "Did you mean 'tag'?")


def test_where_without_key_and_error_without_hint():
    err = SpecError(Where(Path("ac295.yml"), 0), "cannot read the file.")
    assert str(err) == "ac295.yml:0: cannot read the file."
