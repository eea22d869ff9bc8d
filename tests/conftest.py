"""Test-suite wide: markers, and fixtures on the shared helpers (``tests/helpers.py``).

Tests under integration/, reliability/ and swarm/ talk to the real engine and registry, and
carry the `integration` marker (`script/test -m "not integration"` skips them); those under
swarm/ also carry `cluster` (a Swarm of three engines on this machine).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from clones import Registry

REAL_PARTS = ("/integration/", "/reliability/", "/swarm/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(part in str(item.fspath) for part in REAL_PARTS):
            item.add_marker(pytest.mark.integration)
        if "/swarm/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def engine():
    """The real engine; failing (not skipping) when none answers: script/test starts one."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means: no engine
        pytest.fail(f"no Docker Engine answers ({err}); run script/bootstrap first")
    return client


@pytest.fixture
def data() -> Path:
    """The example projects on disk, valid and broken (tests/data)."""
    return Path(__file__).parent / "data"


@pytest.fixture
def make_registry(tmp_path):
    made: list[Registry] = []

    def make(htpasswd: Path | None = None) -> "Registry":
        from clones import Registry, free_port

        registry = Registry(tmp_path / f"registry{len(made)}", free_port(), htpasswd)
        registry.root.mkdir()
        registry.start()
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.kill()


@pytest.fixture(scope="session", autouse=True)
def sweep_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """After a session that ran tests on the real engine: remove every image, container and
    network that a project copy of this session made (their labels name its state folder
    under pytest's base folder). A unit-test session touches no engine, and asks none.

    Without it, each run of the suite leaves the images of superseded builds behind, and the
    engine's listings, which some checks read, grow slower run after run.
    """
    yield
    if not any(item.get_closest_marker("integration") for item in request.session.items):
        return
    base = str(tmp_path_factory.getbasetemp().resolve())
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception:  # noqa: BLE001 - no engine (a unit-test run): nothing to sweep
        return
    from tasks.engine.client import LABEL_MADE, LABEL_PROJECT

    base += "/"  # pytest-69/ is not pytest-692/ (other sessions share the parent folder)
    # the low-level listing: the high-level one inspects each container, and fails on one
    # that another session removes meanwhile
    for container in client.api.containers(all=True, filters={"label": LABEL_PROJECT}):
        if (container.get("Labels") or {}).get(LABEL_PROJECT, "").startswith(base):
            try:
                client.api.remove_container(container["Id"], force=True)
            except docker.errors.NotFound:  # gone meanwhile (its own clean-up)
                pass
    for network in client.networks.list(filters={"label": LABEL_PROJECT}):
        if (network.attrs.get("Labels") or {}).get(LABEL_PROJECT, "").startswith(base):
            try:
                network.remove()
            except docker.errors.APIError:
                pass
    for volume in client.volumes.list(filters={"label": LABEL_PROJECT}):
        if (volume.attrs.get("Labels") or {}).get(LABEL_PROJECT, "").startswith(base):
            try:
                volume.remove(force=True)
            except docker.errors.APIError:
                pass
    from tasks.engine.evidence import LABEL_FAILED

    for image in client.api.images(filters={"label": LABEL_FAILED}):  # failed steps' states
        if (image.get("Labels") or {}).get(LABEL_PROJECT, "").startswith(base):
            try:
                client.api.remove_image(image["Id"], force=True)
            except docker.errors.APIError:
                pass
    made = [i for i in client.api.images(filters={"label": LABEL_MADE})
            if (i.get("Labels") or {}).get(LABEL_MADE, "").rsplit(" ", 1)[-1].startswith(base)]
    from clones import session_name

    for image in sorted(made, key=lambda i: i.get("Created", 0), reverse=True):  # children first
        tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        try:
            if all(session_name(t) for t in tags):
                client.api.remove_image(image["Id"], force=True)
                continue
            # Another copy on this engine took the image by its inputs and tagged it (one
            # made by this session): only this session's names go, the image stays theirs.
            for tag in filter(session_name, tags):
                client.api.remove_image(tag)
        except docker.errors.APIError:  # a parent of an image that is not ours
            pass


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory, engine):
    """A project copy that has run nothing yet, shared by the integration and cluster tests
    (its base image is made once); cleaned up after the session.

    Nothing is faked: the copy makes its base image (mmdebstrap), builds, runs and pushes for real,
    with its own state folder, registry port and hub user. Teardown stops its registry and
    removes the images and containers it made.
    """
    import docker

    from clones import (SESSION_REGISTRIES, Project, copy_project, free_port, leftovers,
                        session_name)

    root = copy_project(tmp_path_factory.mktemp("clone") / "ac295")
    port, demo2_port, compose_port = free_port(), free_port(), free_port()
    hub_user = f"t{os.getpid()}"
    prefix = f"{hub_user}-"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AC295_")}
    env.update(AC295_REGISTRY=f"127.0.0.1:{port}", AC295_HUB_USER=hub_user,
               AC295_LOCAL_PREFIX=prefix, AC295_DEMO2_PORT=str(demo2_port),
               AC295_COMPOSE_PORT=str(compose_port),
               AC295_COMPARE_REPS="1",  # the compare exercise measures each cell once,
               AC295_COMPARE_SIZE="small")  # with the benchmarks at their small sizes
    proj = Project(root, env, f"127.0.0.1:{port}", hub_user, prefix, demo2_port)
    SESSION_REGISTRIES.add(proj.registry)
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
            if all(session_name(t) for t in image.tags):
                engine.images.remove(image.id, force=True)
            else:  # another copy tagged it too (it took the image by its inputs): untag ours
                for tag in filter(session_name, image.tags):
                    engine.api.remove_image(tag)
        except docker.errors.APIError:  # still a parent of an image of someone else's
            pass
    for network in engine.networks.list():
        if network.name.startswith(prefix):
            network.remove()
