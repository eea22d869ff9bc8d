"""Measure the same workloads natively, in a virtualenv, in Docker, in LXC, rootless (podman)
and in a VM; and the network between this machine and each runtime, over its real path.

Run by the `compare` exercise's `measure` step. Each run goes through the project's public
runner, `python -m tasks.runners` (docs/lecture-rungs.md), started in the project's root
(--project) with this Python. Writes to --out:

    results.json   every figure, with medians and spread, and the machine's facts
    results.md     the tables: medians per runtime, and the ratio to native
    results.png    the chart: each runtime relative to native (three panels)

Three kinds of figures:

- start-up (launch to exit of `python3 workloads.py ready`, as the runner times it) and the
  project's own loops (seconds, timed inside the runtime): lower is better;
- the standard benchmarks (HPL and STREAM from hpcc, sysbench cpu and memory, fio), run
  inside the runtime, each reporting its own figure (GFLOP/s, GB/s, events/s, MiB/s, IOPS):
  higher is better;
- the network: round trips (microseconds, lower is better) and iperf3 throughput (Gbit/s,
  higher is better) between this machine and a server in the runtime, over each path the
  runtime offers (Docker's published port, NAT, bridge and host network; LXC's veth on a
  bridge; podman's host network; the VM's user network); native loopback is the baseline.

Each rep goes through every runtime and path in turn, so that the machine's load, which
moves, falls on all of them alike.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

RUNTIMES = ("native", "venv", "docker", "lxc", "rootless", "vm")
LABELS = {"native": "native", "venv": "virtualenv", "docker": "Docker (runc)",
          "lxc": "LXC", "rootless": "podman rootless", "vm": "VM (qemu)"}
WORKLOADS = ("startup", "cpu_python", "cpu_sha256", "memory", "file_io", "network")
#: The standard benchmarks: name, unit (all higher-is-better), what it is.
BENCHMARKS = {
    "hpl": ("GFLOP/s", "HPL (hpcc, one process)"),
    "stream_copy": ("GB/s", "STREAM Copy (hpcc)"),
    "stream_triad": ("GB/s", "STREAM Triad (hpcc)"),
    "sysbench_cpu": ("events/s", "sysbench cpu, 2 threads"),
    "sysbench_memory": ("MiB/s", "sysbench memory, 2 threads"),
    "fio_seq_write": ("MiB/s", "fio sequential write, 1 MiB"),
    "fio_seq_read": ("MiB/s", "fio sequential read, 1 MiB"),
    "fio_rand_read": ("IOPS", "fio random read, 4 KiB"),
    "fio_rand_write": ("IOPS", "fio random write, 4 KiB"),
}
#: The network paths: (runtime, path); the runner says what each path is.
PATHS = (("native", "loopback"), ("docker", "published"), ("docker", "nat"),
         ("docker", "bridge"), ("docker", "host"), ("lxc", "bridge"), ("rootless", "host"),
         ("vm", "user"))
NET_FIGURES = {"rtt": ("µs", False), "throughput": ("Gbit/s", True)}  # unit, higher better
IN_IMAGE = "/bench/workloads.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, as in the image: the same interpreter
TIMEOUT = 3600


def say(text: str) -> None:
    print(text, flush=True)


class Runner:
    """How to run ``python3 workloads.py ARGS`` in each runtime: which of the project's
    runtimes, with which options, and which python and script path."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.image_id: str = json.loads(Path(args.image_notes).read_text())["image_id"]
        self.local = str(HERE / "image" / "workloads.py")
        venv_python = str(Path(args.venv) / "bin" / "python")
        self.how: dict[str, tuple[list[str], list[str]]] = {  # runtime: (options, command)
            "native": (["native", "--cwd", str(HERE)], [SYSTEM_PYTHON, self.local]),
            "venv": (["native", "--cwd", str(HERE)], [venv_python, self.local]),
            "docker": (["docker", "--image", self.image_id], ["python3", IN_IMAGE]),
            "lxc": (["lxc", "--image", self.image_id, "--store", args.lxc_store, "--prefix",
                     args.prefix], ["python3", IN_IMAGE]),
            "rootless": (["rootless", "--archive", args.archive], ["python3", IN_IMAGE]),
            "vm": (["vm", "--image", self.image_id, "--kernel", args.kernel, "--initramfs",
                    str(Path(args.out) / "vm.cpio"), "--cpus", "2", "--memory", "2048"],
                   ["python3", IN_IMAGE]),
        }

    def _runner(self, words: list[str]) -> str:
        """``python -m tasks.runners WORDS`` in the project; its stdout (stderr goes by)."""
        found = subprocess.run([sys.executable, "-m", "tasks.runners", *words],
                               cwd=self.args.project, stdout=subprocess.PIPE, text=True)
        if found.returncode != 0:
            raise SystemExit(f"python -m tasks.runners {' '.join(words[:1])} failed "
                             f"(exit {found.returncode}); its reason is above.")
        return found.stdout

    def prepare(self) -> None:
        """What the runtimes need before the first timed run (the VM's initramfs, the image
        in podman's storage, the image's folder for LXC)."""
        for runtime in RUNTIMES:
            options, _ = self.how[runtime]
            self._runner([*options, "--prepare"])

    def facts(self) -> dict[str, str]:
        """What the runtimes say of themselves: versions, the VM's accelerator."""
        found: dict[str, str] = {}
        for runtime in ("docker", "lxc", "rootless", "vm"):
            options, _ = self.how[runtime]
            found.update(json.loads(self._runner([*options, "--facts"])))
        return found

    def _checked(self, runtime: str, words: list[str]) -> dict[str, Any]:
        report = json.loads(self._runner(words))
        if report["exit_code"] != 0:
            console = report["details"].get("console", "")
            raise SystemExit(f"the {runtime} run failed ({report['exit_code']}): "
                             f"{report['stderr'][-2000:]}{console}{report.get('why', '')}")
        return dict(report)

    def run(self, runtime: str, words: list[str]) -> dict[str, Any]:
        """Run the workloads with ``words`` in ``runtime``; the runner's report (stdout,
        seconds, ...)."""
        options, command = self.how[runtime]
        return self._checked(runtime, [*options, "--json", "--timeout", str(TIMEOUT), "--",
                                       *command, *words])

    def network(self, runtime: str, path: str) -> dict[str, Any]:
        """A server in ``runtime`` reached over ``path``: round trips, then iperf3 (the
        client runs here, with Debian's python3 and iperf3)."""
        options, command = self.how[runtime]
        client = f"{SYSTEM_PYTHON} {self.local} netclient {{host}} {{port0}} {{port1}}"
        return self._checked(f"{runtime} ({path})", [
            *options, "--json", "--timeout", "900", "--serve", path,
            "--ready", f"{client} --ready", "--client", f"{client} --size {self.args.size}",
            "--", *command, "serve", "{port0}", "{port1}"])


def last_json(report: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(report["stdout"].strip().splitlines()[-1]))


def timed(report: dict[str, Any]) -> float:
    if "ready" not in report["stdout"]:
        raise SystemExit(f"no 'ready' in the output: {report['stdout'][:200]!r}")
    return float(report["seconds"])


def cell(values: list[float]) -> dict[str, object]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def version(command: list[str]) -> str:
    try:
        said = subprocess.run(command, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "missing"
    return said.splitlines()[0] if said else "missing"


def facts(runner: Runner) -> dict[str, object]:
    runtimes = runner.facts()
    return {"cores": os.cpu_count(), "machine": platform.machine(),
            "cpu": next((line.split(":", 1)[1].strip() for line in
                         Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name")), "unknown"),
            "host_kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                / 2**30, 1),
            **runtimes,
            "python": version([SYSTEM_PYTHON, "--version"]),
            "hpcc": version(["dpkg-query", "-W", "-f", "${Version}", "hpcc"]),
            "sysbench": version(["sysbench", "--version"]),
            "fio": version(["fio", "--version"]),
            "iperf3": version(["iperf3", "--version"]),
            "size": runner.args.size, "reps": runner.args.reps,
            "load_at_start": [round(x, 2) for x in os.getloadavg()]}


def measure(runner: Runner, reps: int) -> dict[str, Any]:
    """Each rep runs every runtime and path once, in turn (a block of runs per runtime
    would time the load as much as it)."""
    own = {r: {w: [] for w in WORKLOADS} for r in RUNTIMES}
    bench: dict[str, dict[str, list[float]]] = {r: {b: [] for b in BENCHMARKS}
                                                for r in RUNTIMES}
    direct: dict[str, bool] = {}
    net = {f"{r}/{p}": {f: [] for f in NET_FIGURES} for r, p in PATHS}
    via: dict[str, str] = {}
    for rep in range(1, reps + 1):
        for runtime in RUNTIMES:
            say(f"run {rep} of {reps}: {LABELS[runtime]}")
            own[runtime]["startup"].append(timed(runner.run(runtime, ["ready"])))
            suite = last_json(runner.run(runtime, ["suite", "--reps", "1"]))
            for workload in WORKLOADS[1:]:
                own[runtime][workload] += suite[workload]
            figures = last_json(runner.run(runtime, ["bench", "--size", runner.args.size]))
            for name in BENCHMARKS:
                bench[runtime][name].append(float(figures[name]))
            direct[runtime] = bool(figures["fio_direct"])
        for runtime, path in PATHS:
            say(f"run {rep} of {reps}: network, {LABELS[runtime]} over {path}")
            report = runner.network(runtime, path)
            figures = last_json(report)
            via[f"{runtime}/{path}"] = report["details"]["via"]
            for name in NET_FIGURES:
                net[f"{runtime}/{path}"][name].append(float(figures[name]))
    return {
        "cells": {r: {w: cell(v) for w, v in by.items()} for r, by in own.items()},
        "benchmarks": {"units": {b: u for b, (u, _) in BENCHMARKS.items()},
                       "about": {b: a for b, (_, a) in BENCHMARKS.items()},
                       "fio_direct": direct,
                       "cells": {r: {b: cell(v) for b, v in by.items()}
                                 for r, by in bench.items()}},
        "network": {"paths": [{"runtime": r, "path": p, "via": via[f"{r}/{p}"]}
                              for r, p in PATHS],
                    "units": {f: u for f, (u, _) in NET_FIGURES.items()},
                    "higher_is_better": {f: h for f, (_, h) in NET_FIGURES.items()},
                    "baseline": "native/loopback",
                    "cells": {k: {f: cell(v) for f, v in by.items()}
                              for k, by in net.items()}},
    }


def _median(found: dict[str, object]) -> float:
    return float(found["median"])  # type: ignore[arg-type]


def _spread(found: dict[str, object], digits: int) -> str:
    return f"{float(found['min']):.{digits}f}–{float(found['max']):.{digits}f}"  # type: ignore[arg-type]


def _digits(value: float) -> int:
    return 3 if value < 10 else 1 if value < 1000 else 0


def tables(results: dict[str, Any]) -> str:
    """The three tables: own workloads (seconds), benchmarks and network (their units);
    each cell the median, the ratio to native and the spread."""
    cells = results["cells"]
    lines = ["Start-up and the project's own loops: seconds (lower is better), ×ratio to "
             "native.", "",
             "| workload | " + " | ".join(LABELS[r] for r in RUNTIMES) + " |",
             "|---" * (len(RUNTIMES) + 1) + "|"]
    for workload in WORKLOADS:
        native = _median(cells["native"][workload])
        row = [f"{_median(cells[r][workload]):.3f} s ×{_median(cells[r][workload]) / native:.2f}"
               f" ({_spread(cells[r][workload], 3)})" for r in RUNTIMES]
        lines.append(f"| {workload} | " + " | ".join(row) + " |")
    bench = results["benchmarks"]
    lines += ["", "Standard benchmarks: each tool's own figure (higher is better), ×ratio to "
              "native.", "", "| benchmark | unit | " + " | ".join(LABELS[r] for r in RUNTIMES)
              + " |", "|---" * (len(RUNTIMES) + 2) + "|"]
    for name, unit in bench["units"].items():
        native = _median(bench["cells"]["native"][name])
        row = []
        for runtime in RUNTIMES:
            found = bench["cells"][runtime][name]
            value = _median(found)
            row.append(f"{value:.{_digits(value)}f} ×{value / native:.2f} "
                       f"({_spread(found, _digits(value))})")
        lines.append(f"| {name} | {unit} | " + " | ".join(row) + " |")
    direct = bench["fio_direct"]
    lines += ["", "fio with O_DIRECT in: " + ", ".join(LABELS[r] for r in RUNTIMES
                                                        if direct.get(r)) +
              "; buffered (the file system refuses O_DIRECT) in: " +
              (", ".join(LABELS[r] for r in RUNTIMES if not direct.get(r)) or "none") + "."]
    net = results["network"]
    base = net["cells"][net["baseline"]]
    lines += ["", "Network between this machine and the runtime, over its path: round trip "
              "(µs, lower is better) and iperf3 throughput (Gbit/s, higher is better), "
              "×ratio to native loopback.", "",
              "| runtime | path | what is on the path | round trip µs | throughput Gbit/s |",
              "|---|---|---|---|---|"]
    for path in net["paths"]:
        found = net["cells"][f"{path['runtime']}/{path['path']}"]
        row = []
        for figure in ("rtt", "throughput"):
            value = _median(found[figure])
            row.append(f"{value:.{_digits(value)}f} ×{value / _median(base[figure]):.2f} "
                       f"({_spread(found[figure], _digits(value))})")
        lines.append(f"| {LABELS[path['runtime']]} | {path['path']} | {path['via']} | "
                     + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def chart(results: dict[str, Any], about: dict[str, object], path: Path) -> None:
    """Three panels, each runtime relative to native (log scale, 1 = native): time of the
    own loops (lower is better), the benchmarks' performance and the network's (higher is
    better: a round trip's ratio is inverted, native / runtime)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [r for r in RUNTIMES if r != "native"]
    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(12, 14), dpi=100)
    colours = {r: f"C{n}" for n, r in enumerate(others)}

    def bars(axes: Any, groups: list[str], series: dict[str, list[float]]) -> None:
        width = 0.8 / max(1, len(series))
        for n, (name, ratios) in enumerate(series.items()):
            spots = [i + (n - (len(series) - 1) / 2) * width for i in range(len(groups))]
            drawn = axes.bar(spots, ratios, width, label=LABELS.get(name, name),
                             color=colours.get(name))
            axes.bar_label(drawn, labels=[f"{r:.2f}" if r < 1 else f"{r:.1f}" if r < 10
                                          else f"{r:.0f}" for r in ratios],
                           fontsize=6, padding=1, rotation=90)
        axes.axhline(1, color="black", linewidth=0.8)
        axes.set_yscale("log")
        axes.set_xticks(range(len(groups)), groups, fontsize=8)
        axes.legend(fontsize=7, ncol=len(series))

    cells = results["cells"]
    bars(top, [w.replace("_", " ") for w in WORKLOADS],
         {r: [_median(cells[r][w]) / _median(cells["native"][w]) for w in WORKLOADS]
          for r in others})
    top.set_ylabel("time relative to native\n(lower is better)")
    top.set_title("Start-up and the project's own loops", fontsize=10)
    bench = results["benchmarks"]
    names = list(bench["units"])
    bars(middle, [n.replace("_", " ").replace("sysbench ", "sysb. ") for n in names],
         {r: [_median(bench["cells"][r][n]) / _median(bench["cells"]["native"][n])
              for n in names] for r in others})
    middle.set_ylabel("performance relative to native\n(higher is better)")
    middle.set_title("Standard benchmarks (hpcc, sysbench, fio)", fontsize=10)
    net = results["network"]
    base = net["cells"][net["baseline"]]
    groups = [f"{LABELS[p['runtime']]}\n{p['path']}" for p in net["paths"]]
    keys = [f"{p['runtime']}/{p['path']}" for p in net["paths"]]
    bars(bottom, groups, {
        "throughput (iperf3)": [_median(net["cells"][k]["throughput"])
                                / _median(base["throughput"]) for k in keys],
        "round trips per second": [_median(base["rtt"]) / _median(net["cells"][k]["rtt"])
                                   for k in keys]})
    bottom.set_ylabel("relative to native loopback\n(higher is better)")
    bottom.set_title("Network between this machine and the runtime, over its real path",
                     fontsize=10)
    runs = f"{about['reps']} run{'s' if about['reps'] != 1 else ''}"
    figure.suptitle(f"Medians of {runs} on {about['cores']} cores (load {about.get('load_at_start')}"
                    f"); the VM in {str(about['vm_accelerator']).upper()}"
                    f"{' (no KVM here)' if about['vm_accelerator'] == 'tcg' else ''}; "
                    f"benchmark size {about['size']}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--size", choices=["full", "small"], default="full",
                        help="the benchmarks' sizes (workloads.py SIZES); small for tests")
    parser.add_argument("--image-notes", required=True, help="the image step's notes (its id)")
    parser.add_argument("--archive", required=True, help="the save step's archive")
    parser.add_argument("--kernel", required=True, help="the kernel step's vmlinuz")
    parser.add_argument("--venv", required=True, help="the venv step's folder")
    parser.add_argument("--lxc-store", required=True,
                        help="where images' file systems are unpacked for LXC")
    parser.add_argument("--prefix", default="", help="the start of the LXC bridge's name")
    parser.add_argument("--out", required=True)
    parser.add_argument("--project", required=True,
                        help="the project's root, where python -m tasks.runners runs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runner = Runner(args)
    runner.prepare()
    about = facts(runner)
    started = time.monotonic()
    results = measure(runner, args.reps)
    about["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    about["minutes"] = round((time.monotonic() - started) / 60, 1)
    document = {"facts": about, "runtimes": list(RUNTIMES), "workloads": list(WORKLOADS),
                **results}
    (out / "results.json").write_text(json.dumps(document, indent=1) + "\n")
    text = tables(document)
    (out / "results.md").write_text(
        f"Medians of {args.reps} runs (min–max), and the ratio to native. Machine: "
        + ", ".join(f"{k} {v}" for k, v in about.items()) + ".\n\n" + text)
    chart(document, about, out / "results.png")
    say(text)


if __name__ == "__main__":
    main()
