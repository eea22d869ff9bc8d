"""No engine: a clear message naming DOCKER_HOST and how to start one; no traceback."""
from __future__ import annotations

import subprocess

from clones import clone


def test_engine_down_names_docker_host(tmp_path):
    project = clone(tmp_path, "127.0.0.1:5999", DOCKER_HOST="unix:///tmp/no-such-engine.sock")
    proc = subprocess.run([str(project.root / ".venv/bin/doit"), "exercise2"], cwd=project.root,
                          env=project.env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    print(f"FIGURE engine down: exit {proc.returncode}, traceback {'Traceback' in out}")
    assert proc.returncode != 0
    assert "Traceback" not in out
    assert "No Docker Engine answers at unix:///tmp/no-such-engine.sock" in out
    assert "script/bootstrap" in out and "DOCKER_HOST" in out
