"""The compare exercise, reduced to one run per cell: every cell measured, and the sanity of
what the lecture says (containers run code at native speed; a VM starts far more slowly)."""
from __future__ import annotations

import json


def test_compare_measures_every_cell_and_draws_the_chart(project):
    run = project.doit("compare")
    assert "compare:measure" in run.executed
    out = project.state / "compare"
    results = json.loads((out / "results.json").read_text())
    cells = results["cells"]
    assert sorted(cells) == sorted(["native", "venv", "docker", "rootless", "vm"])
    for runtime, by_workload in cells.items():
        assert sorted(by_workload) == sorted(["startup", "cpu_python", "cpu_sha256", "memory",
                                              "file_io", "network"]), runtime
        assert all(c["median"] > 0 and len(c["runs"]) == 1 for c in by_workload.values())
    for workload in ("cpu_python", "cpu_sha256"):
        ratio = cells["docker"][workload]["median"] / cells["native"][workload]["median"]
        assert 1 / 3 < ratio < 3, (workload, ratio)  # CPU in a container: native speed
    assert cells["vm"]["startup"]["median"] > cells["docker"]["startup"]["median"]
    assert results["facts"]["vm_accelerator"] in ("kvm", "tcg")
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| cpu_python |" in (out / "results.md").read_text()


def test_compare_reruns_only_when_asked(project):
    assert "compare:measure" not in project.doit("compare").executed
    run = project.doit("compare", "rerun=1")
    assert run.executed == ["compare:measure"]  # only the measurement, not what it reads
