"""The venv's limit, shown from a fresh copy: Maggie's environment.yml resolved for two Debian
releases' Pythons gives two different locks and two different results; John, running
Maggie's image pulled from the registry, gets exactly her result."""
from __future__ import annotations

import re

import docker


def pins(text: str) -> dict[str, str]:
    """name -> version of a lock, read here (not with the exercise's code)."""
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M))


def test_two_releases_two_locks_and_johns_run_of_maggies_image_is_hers(
        project, engine: docker.DockerClient):
    run = project.doit("crossos")
    assert "crossos:verdict" in run.executed or "crossos:verdict" in run.skipped
    bookworm = pins((project.state / "crossos/bookworm.lock").read_text())
    bullseye = pins((project.state / "crossos/bullseye.lock").read_text())
    assert bookworm and bullseye and bookworm != bullseye
    assert bookworm["tabulate"] == bullseye["tabulate"] == "0.9.0"  # what Maggie pinned
    # each release says its own Python, and that is what its lock was resolved for
    assert project.record("crossos:bookworm-python")["stdout"].startswith("3.11 ")
    assert project.record("crossos:bullseye-python")["stdout"].startswith("3.9 ")
    maggie = project.record("crossos:maggie")
    john = project.record("crossos:john")
    johns_run = project.record("crossos:john-runs-maggies")
    assert maggie["exit_code"] == 0 and "maggie" in maggie["stdout"]
    assert (john["exit_code"], john["stdout"]) != (0, maggie["stdout"])  # not her result
    assert (johns_run["exit_code"], johns_run["stdout"]) == (0, maggie["stdout"])
    # the oracle: the image John pulled, run by plain docker from this test
    pulled = project.local("crossos:john-pulls")["image_id"]
    said = engine.containers.run(pulled, remove=True, network_mode="none").decode()
    assert said == maggie["stdout"]
    assert project.doit("crossos").executed == []
