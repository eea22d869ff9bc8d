"""Registry faults: each ends non-zero with a one-paragraph message and writes no record.

Each test prints its own FIGURE line (the figure of one fault, computed within the test).
"""
from __future__ import annotations

import base64
import json
import subprocess
import time

import bcrypt

from clones import clone


def _clean_failure(project, run, record: str, expect: str) -> None:
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "Traceback" not in out
    assert expect in out, out[-3000:]
    assert not (project.state / "records" / record).exists()


def test_registry_down(tmp_path):
    from clones import free_port
    project = clone(tmp_path, f"127.0.0.1:{free_port()}")  # nothing listens there
    run = project.doit("exercise2", check=False)
    _clean_failure(project, run, "exercise2/push.json", "does not answer")
    print("FIGURE registry fault 'down': one paragraph, no record")


def test_missing_tag(tmp_path, make_registry):
    registry = make_registry()
    project = clone(tmp_path, registry.host)
    folder = project.root / "exercises/missing"
    folder.mkdir()
    (folder / "exercise.yml").write_text(
        'doc: pull a tag nobody pushed\nsteps:\n  it:\n    pull: "{registry}/nobody/nothing:1"\n')
    run = project.doit("missing", check=False)
    _clean_failure(project, run, "missing/it.json", "pulling")
    print("FIGURE registry fault 'missing tag': one paragraph, no record")


def test_401_without_credentials_and_no_secret_anywhere_with_them(tmp_path, make_registry,
                                                                   engine):
    password = "pl4nted-S3cret-ac295"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"student:{hashed}\n")
    registry = make_registry(htpasswd)
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    project = clone(tmp_path, registry.host, DOCKER_CONFIG=str(docker_config))
    (docker_config / "config.json").write_text(json.dumps({"auths": {}}))

    run = project.doit("exercise2", check=False)
    _clean_failure(project, run, "exercise2/push.json", "refused access")
    print("FIGURE registry fault '401': one paragraph, no record")

    token = base64.b64encode(f"student:{password}".encode()).decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {registry.host:
                                                                     {"auth": token}}}))
    run = project.doit("exercise2")
    assert "exercise2:push" in run.executed
    hits = []
    for path in list(project.state.rglob("*")) + [project.root / "ac295.lock"]:
        if path.is_file() and password.encode() in path.read_bytes():
            hits.append(str(path))
    if password in run.stdout + run.stderr:
        hits.append("doit output")
    ref = f"{registry.host}/{project.hub_user}/ac295_playground:exercise2"
    layers = b"".join(engine.images.get(ref).save())
    assert len(layers) > 1_000_000  # the whole image was searched
    if password.encode() in layers:
        hits.append("image layers")
    print(f"FIGURE credential hits: {len(hits)} {hits}")
    assert hits == []


def test_registry_killed_mid_push_then_restarted(tmp_path, make_registry):
    registry = make_registry()
    project = clone(tmp_path, registry.host)
    project.doit("base:image")
    caught = False
    for _ in range(3):  # the push must still be under way when the registry dies
        proc = subprocess.Popen([str(project.root / "script/doit"), "base:push"],
                                cwd=project.root, env=project.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if "blobs/uploads" in registry.log.read_text(errors="replace"):
                registry.kill()
                break
            time.sleep(0.02)
        output, _ = proc.communicate(timeout=120)
        registry.start()
        if proc.returncode != 0:
            caught = True
            assert "Traceback" not in output
            assert "pushing" in output or "does not answer" in output, output[-2000:]
            assert not (project.state / "records/base/push.json").exists()
            break
        (project.state / "records/base/push.json").unlink()
        subprocess.run(["rm", "-rf", str(registry.root / "data")], check=True)
    assert caught, "the push always finished before the registry died"
    run = project.doit("base:push")
    assert "base:push" in run.executed
    assert (project.state / "records/base/push.json").exists()
    print("FIGURE registry fault 'killed mid-push': one paragraph, no record; the push after "
          "the restart succeeds")
