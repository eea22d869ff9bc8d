"""Demo 1 on the real engine: the syllabus count, in the container and natively."""
from __future__ import annotations

import json


STEPS = ("demo1:image", "demo1:count-container", "demo1:count-native", "demo1:compare")


def test_counts_agree_and_are_recorded(project) -> None:
    # the copy is shared: another test may have run demo1 already, so start from nothing run
    project.doit("forget", *STEPS)
    run = project.doit("demo1")
    assert {"demo1:image", "demo1:count-container", "demo1:count-native",
            "demo1:compare"} <= set(run.executed)
    counts = json.loads((project.state / "demo1" / "counts.json").read_text())
    assert counts == {"container": 15, "native": 15}
    record = json.loads((project.state / "records/demo1/count-container.json").read_text())
    assert record["stdout"].strip() == "15"


def test_second_run_executes_nothing(project) -> None:
    run = project.doit("demo1")
    assert run.executed == []
    assert {"demo1:image", "demo1:count-container", "demo1:count-native",
            "demo1:compare"} <= set(run.skipped)


def test_image_is_tagged_syllabus_first(project, engine) -> None:
    image = engine.images.get(f"{project.prefix}syllabus:first")
    assert image.id == project.local("demo1:image")["image_id"]
