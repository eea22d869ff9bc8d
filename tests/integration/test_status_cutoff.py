"""`status`, `why` and `list --status` on the real engine: an image whose build context a recipe
fills says `~` when the recipe will make the file again, and then stays up to date; doit's own
list said `U`/`R` there. The expected letters are written by hand."""
from __future__ import annotations

import re
import shutil
import textwrap

import pytest

SPEC = """\
doc: a recipe fills the build context, the image copies it
steps:
  data:
    sh: echo hello > ctx/data.txt
    deps: [make.txt]
    targets: [ctx/data.txt]
  image:
    build: ctx
    tag: "{local_prefix}cutoff:1"
    args: {BASE_IMAGE: "{base_image}"}
  check:
    run: image
    command: [cat, /data.txt]
    expect: {stdout: ["^hello$"]}
"""


@pytest.fixture
def cutoff(project):
    folder = project.root / "exercises/cutoff"
    (folder / "ctx").mkdir(parents=True)
    (folder / "ctx/Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
                                           "COPY data.txt /data.txt\n")
    (folder / "make.txt").write_text("the recipe's input\n")
    (folder / "exercise.yml").write_text(textwrap.dedent(SPEC))
    yield project
    shutil.rmtree(folder)


def _letters(out: str) -> dict[str, str]:
    return {m.group(2): m.group(1) for m in re.finditer(r"^([RU~AE]) (cutoff:\S+)", out, re.M)}


def test_an_image_whose_context_a_recipe_makes_again_is_may(cutoff):
    cutoff.doit("cutoff")
    (cutoff.root / "exercises/cutoff/ctx/data.txt").unlink()  # as `doit clean cutoff:data`
    expected = {"cutoff:data": "R", "cutoff:image": "~", "cutoff:check": "~"}
    assert _letters(cutoff.doit("status", "cutoff").stdout) == expected
    assert _letters(cutoff.doit("list", "--all", "--status", "cutoff").stdout) == expected
    why = cutoff.doit("why", "cutoff").stdout
    assert re.search(r"^cutoff:image\s+may run: .*data\.txt.*, but cutoff:data runs first and "
                     r"may make it again as it was$", why, re.M), why
    run = cutoff.doit("cutoff")
    assert run.executed == ["cutoff:data"] and "cutoff:image" in run.skipped
    assert _letters(cutoff.doit("status", "cutoff").stdout) == {
        "cutoff:data": "U", "cutoff:image": "U", "cutoff:check": "U"}
