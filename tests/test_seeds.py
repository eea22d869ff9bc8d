"""The tests' replayable randomness (tests/seeds.py): a seed from AC295_SEED, printed, and
stratified schedules."""
from __future__ import annotations

import random
from collections import Counter

import pytest

import seeds


def test_the_seed_comes_from_the_environment_and_is_printed(monkeypatch, capsys):
    monkeypatch.setenv("AC295_SEED", " 1234 ")
    assert seeds.seed("test_x") == 1234
    assert capsys.readouterr().out == \
        "SEED test_x 1234 (replay: AC295_SEED=1234 script/test -k test_x)\n"


def test_without_one_a_new_seed_is_drawn_and_printed(monkeypatch, capsys):
    monkeypatch.delenv("AC295_SEED", raising=False)
    drawn = {seeds.seed("test_y") for _ in range(5)}
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 5 and all(line.startswith("SEED test_y ") for line in printed)
    assert {int(line.split()[2]) for line in printed} == drawn
    assert len(drawn) > 1 and all(0 < n < 2**31 for n in drawn)


def test_a_seed_that_is_no_number_says_what_to_do(monkeypatch):
    monkeypatch.setenv("AC295_SEED", "abc")
    with pytest.raises(ValueError, match=r"AC295_SEED='abc' is not a whole number; set it to "
                                         r"the seed a test printed"):
        seeds.seed("test_z")


@pytest.mark.parametrize("count", [0, 3, 7, 8, 50])
def test_a_schedule_holds_every_kind_at_least_once(count):
    kinds = ["edit", "revert", "touch", "delete", "arg", "ignore", "registry"]
    cases = seeds.schedule(kinds, count, random.Random(count))
    assert len(cases) == max(count, len(kinds))
    assert set(Counter(cases)) == set(kinds)


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    kinds = list(range(10))
    one = seeds.schedule(kinds, 30, random.Random(7))
    assert seeds.schedule(kinds, 30, random.Random(7)) == one
    assert seeds.schedule(kinds, 30, random.Random(8)) != one
    assert one[:10] != kinds  # shuffled, not the kinds in order then draws


def test_a_schedule_needs_kinds():
    with pytest.raises(ValueError):
        seeds.schedule([], 3, random.Random(1))
