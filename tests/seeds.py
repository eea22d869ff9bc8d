"""Replayable randomness for the tests that draw at random (reliability/).

Every such test takes its seed from ``seed()``: the one in ``AC295_SEED`` when it is set, a
new one otherwise, printed either way (``SEED <test> <n> (replay: AC295_SEED=<n> ...)``), so a
failure seen once can be run again exactly. ``schedule()`` makes the kinds of a random test's
cases stratified: every kind at least once in any run of at least that many cases, then draws.
"""
from __future__ import annotations

import os
import random
from typing import Sequence, TypeVar

T = TypeVar("T")


def seed(test: str) -> int:
    """The seed of one random test: ``AC295_SEED``, or a new one; printed.

    Raises:
        ValueError: ``AC295_SEED`` is not a whole number (said with what to do).
    """
    raw = os.environ.get("AC295_SEED", "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"AC295_SEED={raw!r} is not a whole number; set it to the seed "
                             "a test printed (SEED ... lines), or unset it.") from None
    else:
        value = random.SystemRandom().randrange(1, 2**31)
    print(f"SEED {test} {value} (replay: AC295_SEED={value} script/test -k {test})", flush=True)
    return value


def schedule(kinds: Sequence[T], count: int, rng: random.Random) -> list[T]:
    """``count`` cases (at least one of each kind): every kind once, in a random order,
    then random kinds; the order of the whole is random too."""
    if not kinds:
        raise ValueError("schedule() needs at least one kind")
    cases = list(kinds) + [rng.choice(kinds) for _ in range(max(0, count - len(kinds)))]
    rng.shuffle(cases)
    return cases
