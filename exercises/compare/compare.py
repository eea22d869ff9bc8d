"""Time the same workloads natively, in a virtualenv, in Docker, rootless (podman), in a VM.

Run by the `compare` exercise's `measure` step, with the project's Python (it uses the
project's own runners for the VM and the rootless containers). Writes to --out:

    results.json   every timing, with medians and spread, and the machine's facts
    results.md     the table: median seconds per workload and runtime, and the ratio to native
    results.png    the chart: each runtime's time relative to native, per workload

Start-up is the wall time of `python3 workloads.py ready` from launch to exit, measured
here; the other workloads are timed inside the runtime (see workloads.py).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the project, for its runners

from tasks.engine import rootless  # noqa: E402
from tasks.engine.client import Engine  # noqa: E402
from tasks.vm import boot, initramfs  # noqa: E402

RUNTIMES = ("native", "venv", "docker", "rootless", "vm")
LABELS = {"native": "native", "venv": "virtualenv", "docker": "Docker (runc)",
          "rootless": "podman rootless", "vm": "VM (qemu)"}
WORKLOADS = ("startup", "cpu_python", "cpu_sha256", "memory", "file_io", "network")
IN_IMAGE = "/bench/workloads.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, as in the image: the same interpreter


def say(text: str) -> None:
    print(text, flush=True)


class Runner:
    """How to run ``python3 workloads.py ARGS`` in each runtime, and get its stdout."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        notes = json.loads(Path(args.image_notes).read_text())
        self.image_id: str = notes["image_id"]
        self.engine = Engine(project=str(Path(args.out).resolve()))
        self.cpio = Path(args.out) / "vm.cpio"
        self.podman_image = ""

    def prepare(self) -> None:
        marker = self.cpio.with_suffix(".image")
        if not (self.cpio.is_file() and marker.is_file()
                and marker.read_text() == self.image_id):
            say(f"making the VM's initramfs from {self.image_id[7:19]}")
            initramfs.from_image(self.engine, self.image_id, self.cpio)
            marker.write_text(self.image_id)
        rootless.ensure_user()
        self.podman_image = rootless.load(Path(self.args.archive))

    def run(self, runtime: str, words: list[str]) -> str:
        local = [str(HERE / "image" / "workloads.py"), *words]
        if runtime == "native":
            return _host([SYSTEM_PYTHON, *local])
        if runtime == "venv":
            return _host([str(Path(self.args.venv) / "bin" / "python"), *local])
        if runtime == "docker":
            return _host(["docker", "run", "--rm", "--network", "none", self.image_id,
                          "python3", IN_IMAGE, *words])
        if runtime == "rootless":
            found = rootless.run(self.podman_image, ["python3", IN_IMAGE, *words], {}, 1800)
            if found.exit_code != 0:
                raise SystemExit(f"rootless run failed ({found.exit_code}): {found.stderr}")
            return found.stdout
        booted = boot.boot(Path(self.args.kernel), self.cpio,
                           shlex.join(["python3", IN_IMAGE, *words]), timeout=1800)
        if booted.exit_code != 0:
            raise SystemExit(f"the VM run failed ({booted.exit_code}): {booted.stderr}"
                             f"{booted.console[-2000:]}")
        return booted.stdout


def _host(command: list[str]) -> str:
    found = subprocess.run(command, capture_output=True, text=True, cwd=HERE)
    if found.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {found.stderr[-2000:]}")
    return found.stdout


def timed(function: Callable[[], str]) -> float:
    start = time.perf_counter()
    output = function()
    seconds = time.perf_counter() - start
    if "ready" not in output:
        raise SystemExit(f"no 'ready' in the output: {output[:200]!r}")
    return seconds


def cell(values: list[float]) -> dict[str, object]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def facts(runner: Runner) -> dict[str, object]:
    def version(command: list[str]) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "missing"

    info = runner.engine.client.info()
    return {"cores": os.cpu_count(), "machine": platform.machine(),
            "host_kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                / 2**30, 1),
            "vm_accelerator": boot.accelerator(Path(runner.args.kernel)),
            "docker": f"{info.get('ServerVersion')} ({info.get('Driver')}, "
                      f"cgroup v{info.get('CgroupVersion', '1')})",
            "podman": version(["podman", "--version"]),
            "qemu": version([boot.QEMU, "--version"]).splitlines()[0] if
            version([boot.QEMU, "--version"]) else "missing",
            "python": version([SYSTEM_PYTHON, "--version"]),
            "reps": runner.args.reps}


def measure(runner: Runner, reps: int) -> dict[str, dict[str, dict[str, object]]]:
    """Each rep runs every runtime once, in turn: the machine's load, which moves, falls on
    all runtimes alike (a block of runs per runtime would time the load as much as it)."""
    runs: dict[str, dict[str, list[float]]] = {r: {w: [] for w in WORKLOADS} for r in RUNTIMES}
    for rep in range(1, reps + 1):
        for runtime in RUNTIMES:
            say(f"run {rep} of {reps}: {LABELS[runtime]}")
            runs[runtime]["startup"].append(timed(lambda: runner.run(runtime, ["ready"])))
            suite = json.loads(runner.run(runtime, ["suite", "--reps", "1"]).strip()
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
