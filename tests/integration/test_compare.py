"""The compare exercise, reduced to one run per cell at the benchmarks' small sizes: every
runtime (LXC included), every standard benchmark and every network path measured, each figure
a positive number; the machine's facts recorded; the chart drawn. No figure's value is
asserted but the lecture's two safest claims (a container runs compiled code at native speed
within a wide margin; a VM starts more slowly than a container)."""
from __future__ import annotations

import json
import subprocess

RUNTIMES = ["native", "venv", "docker", "lxc", "rootless", "vm"]
OWN = ["startup", "cpu_python", "cpu_sha256", "memory", "file_io", "network"]
BENCHMARKS = ["hpl", "stream_copy", "stream_triad", "sysbench_cpu", "sysbench_memory",
              "fio_seq_write", "fio_seq_read", "fio_rand_read", "fio_rand_write"]
PATHS = ["native/loopback", "docker/published", "docker/nat", "docker/bridge", "docker/host",
         "lxc/bridge", "rootless/host", "vm/user"]


def positive(cell: dict) -> bool:
    return (cell["median"] > 0 and len(cell["runs"]) == 1
            and all(isinstance(r, (int, float)) and r > 0 for r in cell["runs"]))


def test_compare_measures_every_cell_and_draws_the_chart(project):
    run = project.doit("compare")
    assert "compare:measure" in run.executed
    out = project.state / "compare"
    results = json.loads((out / "results.json").read_text())
    assert results["runtimes"] == RUNTIMES
    cells = results["cells"]
    assert sorted(cells) == sorted(RUNTIMES)
    for runtime, by_workload in cells.items():
        assert sorted(by_workload) == sorted(OWN), runtime
        assert all(positive(c) for c in by_workload.values()), runtime
    bench = results["benchmarks"]
    assert sorted(bench["cells"]) == sorted(RUNTIMES)
    for runtime, by_name in bench["cells"].items():
        assert sorted(by_name) == sorted(BENCHMARKS), runtime
        assert all(positive(c) for c in by_name.values()), (runtime, by_name)
    assert sorted(bench["units"]) == sorted(BENCHMARKS)
    assert set(bench["fio_direct"]) == set(RUNTIMES)
    net = results["network"]
    assert [f"{p['runtime']}/{p['path']}" for p in net["paths"]] == PATHS
    assert all(p["via"] for p in net["paths"])
    assert net["baseline"] == "native/loopback"
    for key in PATHS:
        assert sorted(net["cells"][key]) == ["rtt", "throughput"], key
        assert all(positive(c) for c in net["cells"][key].values()), key
    facts = results["facts"]
    for fact in ("cores", "cpu", "host_kernel", "docker", "lxc", "podman", "qemu",
                 "vm_accelerator", "rootless_network", "hpcc", "sysbench", "fio", "iperf3",
                 "load_at_start", "load_at_end"):
        assert facts.get(fact) not in (None, "", "missing"), fact
    assert facts["vm_accelerator"] in ("kvm", "tcg") and facts["size"] == "small"
    for workload in ("cpu_python", "cpu_sha256"):
        ratio = cells["docker"][workload]["median"] / cells["native"][workload]["median"]
        assert 1 / 5 < ratio < 5, (workload, ratio)  # CPU in a container: native speed
    assert cells["vm"]["startup"]["median"] > cells["lxc"]["startup"]["median"]
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "results.md").read_text()
    assert "| cpu_python |" in text and "| hpl | GFLOP/s |" in text
    assert "| LXC | bridge |" in text
    # what the network tests made is gone: no bridge of this copy's, no container
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert f"{project.prefix}br" not in links


def test_compare_reruns_only_when_asked(project):
    assert "compare:measure" not in project.doit("compare").executed
    run = project.doit("compare", "rerun=1")
    assert run.executed == ["compare:measure"]  # only the measurement, not what it reads
