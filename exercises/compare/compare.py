"""Time the same workloads natively, in a virtualenv, in Docker, rootless (podman), in a VM.

Run by the `compare` exercise's `measure` step. Each run goes through the project's public
runner, `python -m tasks.runners` (docs/lecture-rungs.md), started in the project's root
(--project) with this Python. Writes to --out:

    results.json   every timing, with medians and spread, and the machine's facts
    results.md     the table: median seconds per workload and runtime, and the ratio to native
    results.png    the chart: each runtime's time relative to native, per workload

Start-up is the wall time of `python3 workloads.py ready` from launch to exit, as the runner
times it (the run alone: not the runner's own start, nor what it prepares); the other
workloads are timed inside the runtime (see workloads.py).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

RUNTIMES = ("native", "venv", "docker", "rootless", "vm")
LABELS = {"native": "native", "venv": "virtualenv", "docker": "Docker (runc)",
          "rootless": "podman rootless", "vm": "VM (qemu)"}
WORKLOADS = ("startup", "cpu_python", "cpu_sha256", "memory", "file_io", "network")
IN_IMAGE = "/bench/workloads.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, as in the image: the same interpreter
TIMEOUT = 1800


def say(text: str) -> None:
    print(text, flush=True)


class Runner:
    """How to run ``python3 workloads.py ARGS`` in each runtime: which of the project's
    runtimes, with which options, and which python and script path."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.image_id: str = json.loads(Path(args.image_notes).read_text())["image_id"]
        local = str(HERE / "image" / "workloads.py")
        venv_python = str(Path(args.venv) / "bin" / "python")
        self.how: dict[str, tuple[list[str], list[str]]] = {  # runtime: (options, command)
            "native": (["native", "--cwd", str(HERE)], [SYSTEM_PYTHON, local]),
            "venv": (["native", "--cwd", str(HERE)], [venv_python, local]),
            "docker": (["docker", "--image", self.image_id], ["python3", IN_IMAGE]),
            "rootless": (["rootless", "--archive", args.archive], ["python3", IN_IMAGE]),
            "vm": (["vm", "--image", self.image_id, "--kernel", args.kernel, "--initramfs",
                    str(Path(args.out) / "vm.cpio")], ["python3", IN_IMAGE]),
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
        in podman's storage)."""
        for runtime in RUNTIMES:
            options, _ = self.how[runtime]
            self._runner([*options, "--prepare"])

    def facts(self) -> dict[str, str]:
        """What the runtimes say of themselves: versions, the VM's accelerator."""
        found: dict[str, str] = {}
        for runtime in ("docker", "rootless", "vm"):
            options, _ = self.how[runtime]
            found.update(json.loads(self._runner([*options, "--facts"])))
        return found

    def run(self, runtime: str, words: list[str]) -> dict[str, Any]:
        """Run the workloads with ``words`` in ``runtime``; the runner's report (stdout,
        seconds, ...)."""
        options, command = self.how[runtime]
        report = json.loads(self._runner([*options, "--json", "--timeout", str(TIMEOUT), "--",
                                          *command, *words]))
        if report["exit_code"] != 0:
            console = report["details"].get("console", "")
            raise SystemExit(f"the {runtime} run failed ({report['exit_code']}): "
                             f"{report['stderr'][-2000:]}{console}")
        return dict(report)


def timed(report: dict[str, Any]) -> float:
    if "ready" not in report["stdout"]:
        raise SystemExit(f"no 'ready' in the output: {report['stdout'][:200]!r}")
    return float(report["seconds"])


def cell(values: list[float]) -> dict[str, object]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def facts(runner: Runner) -> dict[str, object]:
    def version(command: list[str]) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "missing"

    runtimes = runner.facts()
    return {"cores": os.cpu_count(), "machine": platform.machine(),
            "host_kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                / 2**30, 1),
            "vm_accelerator": runtimes["vm_accelerator"], "docker": runtimes["docker"],
            "podman": runtimes["podman"], "qemu": runtimes["qemu"],
            "python": version([SYSTEM_PYTHON, "--version"]),
            "reps": runner.args.reps}


def measure(runner: Runner, reps: int) -> dict[str, dict[str, dict[str, object]]]:
    """Each rep runs every runtime once, in turn: the machine's load, which moves, falls on
    all runtimes alike (a block of runs per runtime would time the load as much as it)."""
    runs: dict[str, dict[str, list[float]]] = {r: {w: [] for w in WORKLOADS} for r in RUNTIMES}
    for rep in range(1, reps + 1):
        for runtime in RUNTIMES:
            say(f"run {rep} of {reps}: {LABELS[runtime]}")
            runs[runtime]["startup"].append(timed(runner.run(runtime, ["ready"])))
            suite = json.loads(runner.run(runtime, ["suite", "--reps", "1"])["stdout"].strip()
                               .splitlines()[-1])
            for workload in WORKLOADS[1:]:
                runs[runtime][workload] += suite[workload]
    return {r: {w: cell(values) for w, values in by.items()} for r, by in runs.items()}


def table(cells: dict[str, dict[str, dict[str, object]]]) -> str:
    head = "| workload | " + " | ".join(LABELS[r] for r in RUNTIMES) + " |"
    lines = [head, "|---" * (len(RUNTIMES) + 1) + "|"]
    for workload in WORKLOADS:
        native = float(cells["native"][workload]["median"])  # type: ignore[arg-type]
        row = []
        for runtime in RUNTIMES:
            found = cells[runtime][workload]
            median = float(found["median"])  # type: ignore[arg-type]
            row.append(f"{median:.3f} s ×{median / native:.2f} "
                       f"({float(found['min']):.3f}–{float(found['max']):.3f})")  # type: ignore[arg-type]
        lines.append(f"| {workload} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def chart(cells: dict[str, dict[str, dict[str, object]]], about: dict[str, object],
          path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [r for r in RUNTIMES if r != "native"]
    figure, axes = plt.subplots(figsize=(11, 5.5), dpi=110)
    width = 0.8 / len(others)
    for n, runtime in enumerate(others):
        ratios = [float(cells[runtime][w]["median"])  # type: ignore[arg-type]
                  / float(cells["native"][w]["median"]) for w in WORKLOADS]  # type: ignore[arg-type]
        spots = [i + (n - (len(others) - 1) / 2) * width for i in range(len(WORKLOADS))]
        bars = axes.bar(spots, ratios, width, label=LABELS[runtime])
        axes.bar_label(bars, labels=[f"{r:.1f}" if r < 10 else f"{r:.0f}" for r in ratios],
                       fontsize=7, padding=1)
    axes.axhline(1, color="black", linewidth=0.8)
    axes.set_yscale("log")
    axes.set_xticks(range(len(WORKLOADS)), [w.replace("_", " ") for w in WORKLOADS])
    axes.set_ylabel("time relative to native (log scale; 1 = native)")
    runs = f"{about['reps']} run{'s' if about['reps'] != 1 else ''}"
    axes.set_title(f"Medians of {runs} on {about['cores']} cores; the VM in "
                   f"{str(about['vm_accelerator']).upper()}"
                   f"{' (no KVM here)' if about['vm_accelerator'] == 'tcg' else ''}; "
                   f"Docker {about['docker']}", fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--image-notes", required=True, help="the image step's notes (its id)")
    parser.add_argument("--archive", required=True, help="the save step's archive")
    parser.add_argument("--kernel", required=True, help="the kernel step's vmlinuz")
    parser.add_argument("--venv", required=True, help="the venv step's folder")
    parser.add_argument("--out", required=True)
    parser.add_argument("--project", required=True,
                        help="the project's root, where python -m tasks.runners runs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runner = Runner(args)
    runner.prepare()
    about = facts(runner)
    cells = measure(runner, args.reps)
    (out / "results.json").write_text(json.dumps({"facts": about, "runtimes": list(RUNTIMES),
                                                  "workloads": list(WORKLOADS),
                                                  "cells": cells}, indent=1) + "\n")
    text = table(cells)
    (out / "results.md").write_text(
        f"Medians of {args.reps} runs (min–max), and the ratio to native. Machine: "
        + ", ".join(f"{k} {v}" for k, v in about.items()) + ".\n\n" + text)
    chart(cells, about, out / "results.png")
    say(text)


if __name__ == "__main__":
    main()
