"""Virtual environments: create from a spec or a lock, export a lock, fill a wheelhouse.

Environments are made with virtualenv's Python API and filled by the environment's own pip.
The lock is exported from ``pip install --report`` (exact versions and the sha256 pip saw), so
``pip install --require-hashes --no-deps -r LOCK`` recreates the same environment elsewhere:
John's environment, and the image built from a wheelhouse that ``pip download`` fills from the
same lock. An environment counts as made only when its record is written, after everything
else: an interrupted creation is never taken as done (its folder is deleted and made again).
"""
from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path


from ..errors import VenvError
from ..dsl.envspec import EnvSpec
from ..progress import Progress


@functools.lru_cache(maxsize=None)
def interpreter_version(python: str) -> str:
    """The full version ("3.11.7") of an interpreter named by path or on PATH.

    Cached: every venv step's uptodate check asks, and the answer cannot change mid-run.
    """
    try:
        proc = subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise VenvError(f"the interpreter '{python}' cannot be run ({err}). Install it or set "
                        "'python:' in the step.") from None
    if proc.returncode != 0:
        raise VenvError(f"the interpreter '{python}' failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def pip(env: Path, *args: str, progress: Progress, what: str) -> str:
    proc = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "--disable-pip-version-check",
                           "--no-input", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines()
                 if not line.startswith("WARNING: Location")]
        raise VenvError(f"{what} failed (pip exit {proc.returncode}):\n" + "\n".join(lines[-15:]))
    return proc.stdout


def freeze(env: Path) -> str:
    """``pip freeze`` of an environment: its packages as name==version lines, sorted."""
    out = pip(env, "freeze", "--all", progress=lambda s: None, what="pip freeze")
    lines = [line for line in out.splitlines()
             if line and not line.lower().startswith(("pip==", "setuptools==", "wheel=="))]
    return "\n".join(sorted(lines, key=str.lower)) + "\n"


def create(env: Path, python: str, progress: Progress) -> None:
    """Make an empty environment at ``env``, deleting whatever was there (a half-made one)."""
    if env.exists():
        shutil.rmtree(env)
    env.parent.mkdir(parents=True, exist_ok=True)
    progress(f"creating {env} with {python}")
    import virtualenv  # 50 ms to import: only when an environment is really made

    try:
        virtualenv.cli_run([str(env), "--python", python, "--no-setuptools", "--quiet"])
    except (SystemExit, Exception) as err:  # virtualenv exits on a bad interpreter spec
        shutil.rmtree(env, ignore_errors=True)
        raise VenvError(f"virtualenv could not create {env} with '{python}': {err}") from None


def install_spec(env: Path, spec: EnvSpec, progress: Progress) -> str:
    """Install the spec's requirements; return the exported lock text."""
    if not spec.requirements:
        return _lock_text([], spec.source.name)
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("\n".join(spec.requirements) + "\n")
        report = Path(tmp) / "report.json"
        progress(f"pip install {' '.join(spec.requirements)}")
        pip(env, "install", "--quiet", "--report", str(report), "-r", str(requirements),
             progress=progress, what=f"installing {spec.source.name} into {env}")
        data = json.loads(report.read_text())
    pins = []
    for item in data.get("install", []):
        meta = item.get("metadata", {})
        hashes = ((item.get("download_info") or {}).get("archive_info") or {}).get("hashes") or {}
        pins.append((meta.get("name", "?"), meta.get("version", "?"), hashes.get("sha256")))
    return _lock_text(pins, spec.source.name)


def _lock_text(pins: list[tuple[str, str, str | None]], source: str) -> str:
    lines = [f"# Exported from {source} by ac295-pipelines. Recreate this environment with:",
             "#   pip install --require-hashes --no-deps -r THIS_FILE"]
    for name, version, sha in sorted(pins, key=lambda p: p[0].lower()):
        lines.append(f"{name}=={version}" + (f" \\\n    --hash=sha256:{sha}" if sha else ""))
    return "\n".join(lines) + "\n"


def install_lock(env: Path, lock: Path, progress: Progress) -> None:
    """Install exactly what a lock pins (hashes checked when the lock has them)."""
    text = lock.read_text()
    if not any(line and not line.startswith("#") for line in text.splitlines()):
        return
    hashed = ["--require-hashes"] if "--hash=" in text else []
    progress(f"pip install --no-deps {' '.join(hashed)} -r {lock.name}")
    pip(env, "install", "--quiet", "--no-deps", *hashed, "-r", str(lock), progress=progress,
         what=f"installing {lock} into {env}")
