"""Benchmark: what doing nothing costs, as ratios to baselines timed in the same run.

Copies the project to a temporary folder (own state, registry port and names, like the
tests), runs the four image exercises once to have everything built (the base image and
the builds are reused from the engine when an earlier run made them), then times, taking
the median of several runs, each figure against its baseline:

  (a) null build of upstream, exercise2, demo1, exercise1 through script/doit, against
      script/docker-chain: the same four redone with plain docker, layers cached
  (b) that null build through doit alone, minus a trivial dodo of 3 tasks (doit's floor:
      Python start-up and doit's import), per exercise
  (c) 1000 generated exercises (one recipe each): `doit list` and a null build, against the
      floor
  (d) a cold build of exercise2 (Question.py edited: build, run, push) against plain
      `docker build && docker run && docker push` of the same edit
  (e) script/bootstrap when all is set up, against `true`
  (f) `doit watch exercise2`: from the save of Question.py to the answer line printed,
      against plain `docker build && docker run` of the same edit
  (g) the watch process's peak memory (VmHWM) after 1 round and after 200 edit rounds
  (h) the edit build of (d) with `builder: buildah` (byte-reproducible), against the same
      with the docker builder
  (i) a clean build (reuse: no) of base and the four with buildah, against the same with
      docker; the base's tarball is made before (the same recipe for both builders)

Prints one table; nothing is asserted. Cleans up what it made (images, registry, folders).
Usage: script/bench [--reps N] [--cold-reps N] [--rounds N] [--only a,b,c,d,e,f,g,h,i]
"""
from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
FOUR = ["upstream", "exercise2", "demo1", "exercise1"]
GENERATED = 1000
FLOOR_DODO = '''\
def task_floor():
    """doit's floor: three tasks that are always up to date."""
    for n in range(3):
        yield {"name": str(n), "actions": ["true"], "uptodate": [True]}
'''
GENERATED_SPEC = """\
doc: generated exercise {n}
steps:
  copy:
    doc: copy input.txt to out.txt
    sh: ["cp input.txt out.txt"]
    deps: [input.txt]
    targets: [out.txt]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def copy_project(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".ac295", ".git", "__pycache__", ".pytest_cache", ".mypy_cache"))
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def run(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Run ``command``; its wall time in seconds. Exits the benchmark if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench: `{' '.join(command)}` failed in {cwd}:\n"
                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def median(reps: int, *timed: Callable[[], float]) -> list[float]:
    """The median time of each of ``timed``, run in turns ``reps`` times (interleaved, so
    that the machine's load falls on each alike)."""
    times: list[list[float]] = [[] for _ in timed]
    for _ in range(reps):
        for found, one in zip(times, timed):
            found.append(one())
    return [statistics.median(t) for t in times]


SUMMARY = r"^ac295: \d+ ran, \d+ up to date, \d+ failed in "


class Watching:
    """A `doit watch` process; its output lines, each with the time it was read."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.tail: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.perf_counter(), line.rstrip("\n")))

    def expect(self, pattern: str, timeout: float) -> float:
        """The time the next line matching ``pattern`` was read (exits if none comes)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                when, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                sys.exit(f"bench: watch printed no /{pattern}/ within {timeout} s:\n"
                         + "\n".join(self.tail[-40:]))
            self.tail = (self.tail + [line])[-200:]
            if re.search(pattern, line):
                return when

    def drain(self) -> None:
        while not self.lines.empty():
            self.tail.append(self.lines.get()[1])

    def peak_rss(self) -> int:
        """The process's peak resident memory so far (VmHWM), in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 2)  # SIGINT: it removes what it started
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


def settle(folder: Path) -> None:
    """Wait until files written just now are older than the spec cache's clock-tick guard."""
    newest = max(p.stat().st_ctime for p in folder.rglob("*"))
    time.sleep(max(0.0, newest + 2.1 - time.time()))


class Bench:
    def __init__(self, work: Path, reps: int, cold_reps: int) -> None:
        self.work = work
        self.reps = reps
        self.cold_reps = cold_reps
        self.tag = f"bench{os.getpid()}"
        self.registry = f"127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AC295_") and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(AC295_REGISTRY=self.registry, AC295_HUB_USER=self.tag,
                   AC295_LOCAL_PREFIX=f"{self.tag}-", AC295_DEMO2_PORT=str(free_port()))
        self.env = env
        self.project = copy_project(work / "project")
        self.floor = work / "floor"
        self.floor.mkdir()
        (self.floor / "dodo.py").write_text(FLOOR_DODO)
        self.doit = str(ROOT / ".venv/bin/doit")
        self.rows: list[tuple[str, str, str, str, str]] = []

    # --- the parts --------------------------------------------------------------------

    def floor_time(self) -> float:
        return run([self.doit], self.floor, self.env)

    def prepare(self) -> None:
        say("first run of the four image exercises in a fresh copy (untimed)...")
        start = time.perf_counter()
        run([str(self.project / "script/doit"), *FOUR], self.project, self.env)
        say(f"  done in {time.perf_counter() - start:.1f} s")
        settle(self.project / "exercises")
        run([str(self.project / "script/doit"), *FOUR], self.project, self.env)

    def figure_a_b(self) -> None:
        # the chain's images get names of their own: retagging the project's would make
        # the next null build a real one
        chain_env = dict(self.env, REGISTRY=self.registry, HUB_USER=f"{self.tag}chain",
                         LOCAL_PREFIX=f"{self.tag}chain-", STUDENT="maggie",
                         COURSE=f"{self.tag}chain/ac295_l2",
                         BASE_IMAGE=f"{self.registry}/ac295/base:bookworm")
        say(f"(a) null build of the four vs script/docker-chain, {self.reps} runs each...")
        ours, chain = median(
            self.reps,
            lambda: run([str(self.project / "script/doit"), *FOUR], self.project, self.env),
            lambda: run([str(self.project / "script/docker-chain")], self.project, chain_env))
        self.row("(a) null build of 4 exercises (script/doit)", ours, "docker chain", chain,
                 f"{ours / chain:.3f}", "<= 0.20")
        say(f"(b) null build in doit alone vs doit's floor, {self.reps} runs each...")
        alone, floor = median(self.reps, lambda: run([self.doit, *FOUR], self.project, self.env),
                              self.floor_time)
        per = (alone - floor) / len(FOUR) * 1000
        self.row("(b) the same in doit alone, above the floor", alone, "trivial dodo", floor,
                 f"{per:.0f} ms/exercise", "<= 20 ms")

    def figure_c(self) -> None:
        gen = self.work / "generated"
        gen.mkdir()
        for name in ("dodo.py", "ac295.yml", "pyproject.toml"):
            shutil.copy(self.project / name, gen / name)
        shutil.copytree(self.project / "tasks", gen / "tasks",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (gen / ".venv").symlink_to(ROOT / ".venv")
        for n in range(GENERATED):
            folder = gen / "exercises" / f"gen{n:04d}"
            folder.mkdir(parents=True)
            (folder / "input.txt").write_text(f"{n}\n")
            (folder / "exercise.yml").write_text(GENERATED_SPEC.format(n=n))
        say(f"(c) {GENERATED} generated exercises: first run (untimed)...")
        run([self.doit], gen, self.env)
        settle(gen / "exercises")
        run([self.doit], gen, self.env)
        say(f"(c) doit list and a null build vs doit's floor, {self.reps} runs each...")
        listed, null, floor = median(self.reps, lambda: run([self.doit, "list"], gen, self.env),
                                     lambda: run([self.doit], gen, self.env), self.floor_time)
        self.row(f"(c) doit list, {GENERATED} exercises", listed, "trivial dodo", floor,
                 f"{listed / floor:.2f}", "<= 3")
        self.row(f"(c) null build, {GENERATED} exercises", null, "trivial dodo", floor,
                 f"{null:.2f} s", "<= 1.5 s")

    def figure_d(self) -> None:
        question = self.project / "exercises/exercise2/Question.py"
        original = question.read_text()
        plain = self.work / "plain-exercise2"
        shutil.copytree(self.project / "exercises/exercise2", plain)
        counter = iter(range(10**6))
        base = f"{self.registry}/ac295/base:bookworm"

        def ours() -> float:
            question.write_text(original + f"\n# bench edit {next(counter)} {time.time()}\n")
            return run([str(self.project / "script/doit"), "exercise2"], self.project, self.env)

        def docker_plain() -> float:
            (plain / "Question.py").write_text(original + f"\n# plain {time.time()}\n")
            tag = f"{self.registry}/{self.tag}/ac295_playground:plain"
            script = (f"DOCKER_BUILDKIT=0 docker build -q -t {tag} --build-arg BASE_IMAGE={base}"
                      f" . >>{self.work}/plain-ids && docker run --rm {tag} python3 /app/Question.py "
                      f">/dev/null && docker push -q {tag} >/dev/null")
            return run(["bash", "-c", script], plain, self.env)

        say(f"(d) cold build of exercise2 vs plain docker, {self.cold_reps} runs each...")
        cold, docker_time = median(self.cold_reps, ours, docker_plain)
        question.write_text(original)
        self.row("(d) cold build of exercise2 (script/doit)", cold, "docker build+run+push",
                 docker_time, f"{cold / docker_time:.2f}", "<= 1.30")

    def figure_f_g(self, do_f: bool, do_g: bool, rounds: int) -> None:
        question = self.project / "exercises/exercise2/Question.py"
        original = question.read_text()
        plain = self.work / "plain-watch"
        shutil.copytree(self.project / "exercises/exercise2", plain)
        base = f"{self.registry}/ac295/base:bookworm"
        counter = iter(range(10**6))
        watching = Watching([self.doit, "watch", "exercise2"], self.project, self.env)
        try:
            watching.expect(r"^ac295: watching ", 600)

            def ours() -> float:
                watching.drain()
                start = time.perf_counter()
                question.write_text(original + f"\n# watch edit {next(counter)} {time.time()}\n")
                seen = watching.expect(r"^Answer: 2640$", 300)
                watching.expect(SUMMARY, 300)  # the push ends the round
                return seen - start

            def docker_plain() -> float:
                (plain / "Question.py").write_text(original + f"\n# plain {time.time()}\n")
                tag = f"{self.tag}-plain-watch:latest"
                script = (f"DOCKER_BUILDKIT=0 docker build -q -t {tag} --build-arg "
                          f"BASE_IMAGE={base} . >>{self.work}/plain-ids && docker run --rm {tag} "
                          "python3 /app/Question.py >/dev/null")
                return run(["bash", "-c", script], plain, self.env)

            if do_f:
                say(f"(f) watch: save to answer vs plain build and run, {self.reps} runs each...")
                answer, docker_time = median(self.reps, ours, docker_plain)
                self.row("(f) watch: save -> answer (exercise2)", answer, "docker build+run",
                         docker_time, f"{answer / docker_time:.2f}", "<= 0.80")
            if do_g:
                say(f"(g) watch's memory over {rounds} edit rounds...")
                ours()
                after_one = watching.peak_rss()
                for _ in range(rounds - 1):
                    ours()
                after_all = watching.peak_rss()
                growth = (after_all - after_one) / after_one * 100
                self.rows.append((f"(g) watch: peak RSS after 1 and {rounds} rounds",
                                  f"{after_all / 1e6:.1f} MB", f"1 round {after_one / 1e6:.1f} MB",
                                  f"{growth:+.1f} %", "within 10 %, < 150 MB"))
        finally:
            watching.stop()
            question.write_text(original)

    def edit(self, env: dict[str, str]) -> Callable[[], float]:
        """An edit of exercise 2's Question.py and `script/doit exercise2`, timed."""
        question = self.project / "exercises/exercise2/Question.py"
        original = question.read_text().split("\n# bench edit")[0]
        counter = iter(range(10**6))

        def timed() -> float:
            question.write_text(original + f"\n# bench edit {next(counter)} {time.time()}\n")
            return run([str(self.project / "script/doit"), "exercise2"], self.project, env)
        return timed

    def figure_h(self) -> None:
        buildah = dict(self.env, AC295_BUILDER="buildah")
        say("(h) first run of exercise2 with buildah (its own base image; untimed)...")
        run([str(self.project / "script/doit"), "exercise2"], self.project, buildah)
        say(f"(h) edit build of exercise2, buildah vs docker, {self.cold_reps} runs each...")
        ours, docker_time = median(self.cold_reps, self.edit(buildah), self.edit(self.env))
        (self.project / "exercises/exercise2/Question.py").write_text(
            (ROOT / "exercises/exercise2/Question.py").read_text())
        self.row("(h) edit build of exercise2, builder: buildah", ours, "builder: docker",
                 docker_time, f"{ours / docker_time:.2f}", "")

    def figure_i(self) -> None:
        five = ["base:image", *FOUR]
        clean = dict(self.env, AC295_REUSE="no")

        def cold(builder: str) -> Callable[[], float]:
            return lambda: run([str(self.project / "script/doit"), *five], self.project,
                               dict(clean, AC295_BUILDER=builder))

        say(f"(i) clean build of base and the four, buildah vs docker, {self.cold_reps} runs "
            "each...")
        ours, docker_time = median(self.cold_reps, cold("buildah"), cold("docker"))
        self.row("(i) clean build of base + 4 exercises, buildah", ours, "builder: docker",
                 docker_time, f"{ours / docker_time:.2f}", "")

    def figure_e(self) -> None:
        reps = max(self.reps, 20)
        say(f"(e) script/bootstrap when set up vs `true`, {reps} runs each...")
        boot, true = median(reps, lambda: run([str(ROOT / "script/bootstrap")], ROOT, self.env),
                            lambda: run(["true"], ROOT, self.env))
        self.row("(e) script/bootstrap, all set up", boot, "true", true,
                 f"{(boot - true) * 1000:.0f} ms more", "<= 30 ms")

    # --- output and clean-up ------------------------------------------------------------

    def row(self, what: str, ours: float, baseline: str, base: float, ratio: str,
            target: str) -> None:
        self.rows.append((what, f"{ours:.3f} s", f"{baseline} {base:.3f} s", ratio, target))

    def table(self) -> str:
        head = ("figure", "ours (median)", "baseline (median)", "ratio / figure", "target")
        rows = [head, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def clean(self) -> None:
        subprocess.run([self.doit, "registry_stop"], cwd=self.project, env=self.env,
                       capture_output=True)
        listing = subprocess.run(["docker", "images", "--format",
                                  "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True)
        ours = [n for n in listing.stdout.split()
                if n.startswith((self.registry + "/", self.tag + "-", self.tag + "chain-"))]
        # what buildah pulled through the registry (h, i) is named by digest only there
        pulled = subprocess.run(["docker", "images", "--format", "{{.ID}} {{.Repository}}"],
                                capture_output=True, text=True)
        ours += sorted({line.split()[0] for line in pulled.stdout.splitlines()
                        if line.split()[1].startswith(self.registry + "/")})
        if ours:
            subprocess.run(["docker", "rmi", "-f", *ours], capture_output=True)
        plain = self.work / "plain-ids"  # the baselines' builds, superseded ones included
        if plain.exists() and plain.read_text().split():
            subprocess.run(["docker", "rmi", "-f", *reversed(plain.read_text().split())],
                           capture_output=True)
        made = subprocess.run(["docker", "images", "-a", "-q", "--no-trunc", "--filter",
                               "label=org.ac295.made"], capture_output=True, text=True)
        ids = sorted(set(made.stdout.split()))
        labels = subprocess.run(["docker", "image", "inspect", "--format", '{{.Created}} '
                                 '{{.Id}} {{index .Config.Labels "org.ac295.made"}}', *ids],
                                capture_output=True, text=True) if ids else None
        mine = sorted((line.split() for line in (labels.stdout if labels else "").splitlines()
                       if line.split()[-1].startswith(str(self.work))), reverse=True)
        if mine:  # made by this bench's copies; newest first: children before their parents
            subprocess.run(["docker", "rmi", "-f", *[m[1] for m in mine]], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7, help="runs per figure (median)")
    parser.add_argument("--cold-reps", type=int, default=3, help="runs of the cold build")
    parser.add_argument("--rounds", type=int, default=200, help="watch rounds for (g)")
    parser.add_argument("--only", default="a,b,c,d,e,f,g,h,i",
                        help="figures to time, e.g. a,c")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        say("PYTHONDONTWRITEBYTECODE is set here; the runs timed go without it, as Python's "
            "default (with it, every run compiles the project's modules again)")
    work = Path(tempfile.mkdtemp(prefix="ac295-bench-"))
    bench = Bench(work, args.reps, args.cold_reps)
    try:
        if only & {"a", "b", "d", "f", "g", "h", "i"}:
            bench.prepare()
        if only & {"a", "b"}:
            bench.figure_a_b()
        if "c" in only:
            bench.figure_c()
        if "d" in only:
            bench.figure_d()
        if "e" in only:
            bench.figure_e()
        if only & {"f", "g"}:
            bench.figure_f_g("f" in only, "g" in only, args.rounds)
        if "h" in only:
            bench.figure_h()
        if "i" in only:
            bench.figure_i()
    except KeyboardInterrupt:
        say("interrupted; cleaning up")
    finally:
        bench.clean()
        shutil.rmtree(work, ignore_errors=True)
        print(bench.table())  # what was measured, also when a figure could not be


if __name__ == "__main__":
    main()
