"""The compare exercise's report (exercises/compare/compare.py): its tables and chart from
hand-made results, so that a broken table or chart fails here, not after an hour of
measuring."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compare_module():
    spec = importlib.util.spec_from_file_location("compare_report",
                                                  ROOT / "exercises/compare/compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cell(value: float) -> dict:
    return {"median": value, "min": value * 0.9, "max": value * 1.1, "runs": [value]}


def results(compare) -> dict:
    own = {r: {w: cell(2.0 if r == "vm" else 1.0) for w in compare.WORKLOADS}
           for r in compare.RUNTIMES}
    bench = {r: {b: cell(50.0 if r == "native" else 25.0) for b in compare.BENCHMARKS}
             for r in compare.RUNTIMES}
    net = {f"{r}/{p}": {"rtt": cell(20.0 if r == "native" else 80.0),
                        "throughput": cell(4.0 if r == "native" else 1.0)}
           for r, p in compare.PATHS}
    return {"runtimes": list(compare.RUNTIMES), "workloads": list(compare.WORKLOADS),
            "cells": own,
            "benchmarks": {"units": {b: u for b, (u, _) in compare.BENCHMARKS.items()},
                           "about": {}, "fio_direct": {r: r != "vm" for r in compare.RUNTIMES},
                           "cells": bench},
            "network": {"paths": [{"runtime": r, "path": p, "via": f"via {p}"}
                                  for r, p in compare.PATHS],
                        "units": {}, "higher_is_better": {}, "baseline": "native/loopback",
                        "cells": net}}


def test_the_tables_give_medians_ratios_and_spreads():
    compare = compare_module()
    text = compare.tables(results(compare))
    lines = text.splitlines()
    assert "| workload | native | virtualenv | Docker (runc) | LXC | podman rootless | VM (qemu) |" \
        in lines
    assert any(line.startswith("| startup | 1.000 s ×1.00 (0.900–1.100)") and
               line.endswith("| 2.000 s ×2.00 (1.800–2.200) |") for line in lines)
    hpl = next(line for line in lines if line.startswith("| hpl | GFLOP/s |"))
    assert hpl.count("×0.50") == 5 and "50.0 ×1.00 (45.0–55.0)" in hpl
    assert ("fio with O_DIRECT in: native, virtualenv, Docker (runc), LXC, podman rootless; "
            "buffered (the file system refuses O_DIRECT) in: VM (qemu).") in lines
    lxc = next(line for line in lines if line.startswith("| LXC | bridge |"))
    assert "via bridge" in lxc and "80.0 ×4.00" in lxc and "1.000 ×0.25" in lxc
    assert sum(line.startswith("| ") and "loopback" in line for line in lines) == 1


def test_the_chart_is_a_png_with_three_panels(tmp_path):
    compare = compare_module()
    about = {"reps": 1, "cores": 2, "vm_accelerator": "tcg", "size": "small",
             "load_at_start": [1.0, 1.0, 1.0]}
    compare.chart(results(compare), about, tmp_path / "r.png")
    data = (tmp_path / "r.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 1400)  # 12 x 14 inches at 100 dpi: three panels
