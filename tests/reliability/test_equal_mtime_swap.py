"""An input whose content changes while its mtime is put back is still seen as changed."""
from __future__ import annotations

import os

from .conftest import clone


def test_equal_mtime_content_swap_reruns_the_recipe(tmp_path, make_registry):
    project = clone(tmp_path, make_registry().host)
    project.doit("demo1")
    syllabus = project.root / "exercises/demo1/syllabus.md"
    before = os.stat(syllabus)
    text = syllabus.read_text()
    swapped = text.replace("9:00", "8:00", 1)  # same size, same count of digit lines
    assert swapped != text and len(swapped) == len(text)
    syllabus.write_text(swapped)
    os.utime(syllabus, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(syllabus).st_mtime_ns == before.st_mtime_ns
    run = project.doit("demo1")
    print(f"FIGURE equal-mtime swap: reran {sorted(run.executed)}")
    assert "demo1:count-native" in run.executed  # a file_dep of a recipe: the checker
    assert "demo1:image" in run.executed  # a build context file: the inputs digest
