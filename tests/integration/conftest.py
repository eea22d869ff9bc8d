"""Fixtures for integration tests: a copy of the project on a real engine and registry.

Each test session copies the project into a temporary folder with its own state folder, its
own registry port and hub user, and runs the README's main command (``script/doit``) there.
Nothing is faked: the copy debootstraps its base image, builds, runs and pushes for real.
Teardown stops the copy's registry and removes the images and containers it made.
"""
from __future__ import annotations

import os

import docker
import pytest

from clones import Project, copy_project, free_port, leftovers


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient):
    """A project copy that has run nothing yet; cleaned up after the session."""
    root = copy_project(tmp_path_factory.mktemp("clone") / "ac295")
    port, demo2_port = free_port(), free_port()
    hub_user = f"t{os.getpid()}"
    prefix = f"{hub_user}-"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AC295_")}
    env.update(AC295_REGISTRY=f"127.0.0.1:{port}", AC295_HUB_USER=hub_user,
               AC295_LOCAL_PREFIX=prefix, AC295_DEMO2_PORT=str(demo2_port))
    proj = Project(root, env, f"127.0.0.1:{port}", hub_user, prefix, demo2_port)
    yield proj
    proj.doit("registry_stop", check=False)
    for container in leftovers(engine, proj):
        container.remove(force=True)
    ours = [image for image in engine.images.list()
            if any(name.startswith((proj.registry + "/", prefix))
                   for name in image.tags + image.attrs.get("RepoDigests", []))]
    # children before parents: newest first
    for image in sorted(ours, key=lambda i: i.attrs.get("Created", ""), reverse=True):
        try:
            engine.images.remove(image.id, force=True)
        except docker.errors.APIError:  # still a parent of an image of someone else's
            pass
    for network in engine.networks.list():
        if network.name.startswith(prefix):
            network.remove()
