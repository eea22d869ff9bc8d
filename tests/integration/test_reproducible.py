"""Byte-identical images with `builder: buildah`, judged from outside the project.

Two copies of the project, each with its own state folder (so its own buildah storage and
its own mmdebstrap of the base) and its own registry, build `base`, `exercise2`, `demo1` and
`upstream`. What each registry serves is read here over HTTP (catalog, tags, manifest digests:
the test's own reader, not the project's digest code): the same names with the same digests,
every image step's content tag among them. Then the second copy builds everything again with
`reuse: no` into the first one's registry: the registry's log shows no blob uploaded, and it
serves the same manifests as before. Last, `repro-check` on a Dockerfile whose `RUN` writes
the date names `/stamp`, with either builder.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import docker
import pytest
import requests

from clones import Project, Registry, copy_project, free_port

# minutes of buildah builds: not in script/test's default run (script/test -m slow)
pytestmark = pytest.mark.slow

FOUR = ["base", "exercise2", "demo1", "upstream"]
ACCEPT = ", ".join(["application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"])


def served(registry: str) -> dict[str, str]:
    """Every ``repository:tag`` the registry serves, and its manifest digest."""
    found = {}
    catalog = requests.get(f"http://{registry}/v2/_catalog?n=1000", timeout=10)
    assert catalog.status_code == 200, catalog.text
    for repository in catalog.json()["repositories"]:
        listing = requests.get(f"http://{registry}/v2/{repository}/tags/list", timeout=10)
        assert listing.status_code == 200, listing.text
        for tag in listing.json()["tags"]:
            head = requests.head(f"http://{registry}/v2/{repository}/manifests/{tag}",
                                 headers={"Accept": ACCEPT}, timeout=10)
            assert head.status_code == 200, (repository, tag, head.status_code)
            found[f"{repository}:{tag}"] = head.headers["Docker-Content-Digest"]
    return found


def uploads(registry: Registry) -> int:
    """Blob uploads the registry has completed, from its log: each ends with a PUT (a mount
    of a blob the registry holds in another repository moves no bytes, and has none)."""
    return len(re.findall(r'"PUT /v2/\S+/blobs/uploads/', registry.log.read_text()))


@pytest.fixture(scope="module")
def copies(tmp_path_factory, engine):
    """Two copies, each with its own state and registry, the same names; built once."""
    tag = f"rp{os.getpid()}"
    made: list[tuple[Project, Registry]] = []
    for name in ("a", "b"):
        folder = tmp_path_factory.mktemp(f"repro-{name}")
        registry = Registry(folder / "registry", free_port())
        registry.root.mkdir()
        registry.start()
        root = copy_project(folder / "ac295")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AC295_")}
        env.update(AC295_REGISTRY=registry.host, AC295_REGISTRY_SERVICE="external",
                   AC295_HUB_USER=tag, AC295_LOCAL_PREFIX=f"{tag}-",
                   AC295_DEMO2_PORT=str(free_port()), AC295_BUILDER="buildah")
        made.append((Project(root, env, registry.host, tag, f"{tag}-"), registry))
    try:
        for project, _ in made:
            run = project.doit(*FOUR, timeout=1800)
            assert "mmdebstrap bookworm" in run.stdout  # its own base, from the archive
        yield made
    finally:
        for _, registry in made:
            registry.kill()
        names = tuple(f"{r.host}/" for _, r in made) + (f"{tag}-",)
        ours = [image for image in engine.images.list()
                if any(n.startswith(names) for n in image.tags
                       + image.attrs.get("RepoDigests", []))]
        for image in ours:
            try:
                engine.images.remove(image.id, force=True)
            except docker.errors.APIError:
                pass
        for project, _ in made:
            subprocess.run(["rm", "-rf", str(project.root)], check=False)


def test_two_copies_push_the_same_digests_for_every_image_step(copies):
    (a, registry_a), (b, registry_b) = copies
    one, two = served(registry_a.host), served(registry_b.host)
    assert len(one) >= 7 and one == two
    tag = a.hub_user
    # every image step of the four, under its content tag (what the engine pulled), and the
    # pushes' tags: written here by hand, not asked of the project
    repositories = ("ac295/base", f"{tag}/ac295_playground", "pavlosprotopapas/ac295_l2",
                    f"ac295-local/{tag}-syllabus")
    assert {name.split(":")[0] for name in one} == set(repositories)
    for repository in repositories:
        assert [name for name in one if name.startswith(f"{repository}:in-")], repository
    for pushed in ("ac295/base:bookworm", f"{tag}/ac295_playground:exercise2",
                   "pavlosprotopapas/ac295_l2:latest"):
        assert pushed in one
    # a push copies the build's manifest: the tag and the content tag name the same bytes
    content = [d for name, d in one.items() if name.startswith(f"{tag}/ac295_playground:in-")]
    assert one[f"{tag}/ac295_playground:exercise2"] in content
    # the engine runs what the registry serves
    assert "Answer: 2640" in (a.record("exercise2:question") or {}).get("stdout", "")
    assert a.local("exercise2:image")["registry_digest"] in content


def test_a_second_machine_building_anew_pushes_no_blob_and_no_new_manifest(copies):
    (a, registry_a), (b, _) = copies
    before, blobs = served(registry_a.host), uploads(registry_a)
    assert before and blobs > 0  # the first copy's pushes are in the log
    again = Project(b.root, dict(b.env, AC295_REGISTRY=registry_a.host, AC295_REUSE="no"),
                    registry_a.host, b.hub_user, b.prefix)
    run = again.doit("-a", *FOUR, timeout=1800)  # every step runs: nothing is reused
    assert run.stdout.count("(buildah)") >= 4, run.stdout[-3000:]  # each image built again
    assert uploads(registry_a) == blobs
    assert served(registry_a.host) == before


STAMP = {"exercise.yml": 'doc: "A RUN that writes the date"\nsteps:\n  image:\n'
                         '    build: .\n    tag: "{local_prefix}stamp:1"\n'
                         '    args: {BASE_IMAGE: "{base_image}"}\n',
         "Dockerfile": "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN date > /stamp\n"}


@pytest.mark.parametrize("builder", ["buildah", "docker"])
def test_repro_check_names_the_file_a_run_stamped(copies, builder):
    (a, _), _ = copies
    folder = a.root / "exercises" / "stamp"
    folder.mkdir(exist_ok=True)
    for name, text in STAMP.items():
        (folder / name).write_text(text)
    try:
        run = a.doit("repro-check", "stamp:image", f"builder={builder}", check=False,
                     timeout=900)
    finally:
        shutil.rmtree(folder)
    out = run.stdout
    assert run.returncode == 1, out[-3000:] + run.stderr[-2000:]
    assert "stamp:image: NOT identical" in out
    files = out.split("its files that differ", 1)[1]
    assert re.search(r"^    /stamp$", files, re.M), out[-3000:]
    stamp = files.split("    /stamp\n", 1)[1].splitlines()[:2]
    assert stamp[0].startswith("      a: file ") and stamp[1].startswith("      b: file ")
    assert stamp[0].split()[-1] != stamp[1].split()[-1]  # the content hashes differ
    assert not list(Path(a.state, "repro").glob("*")), "repro-check left its copies"
