"""The lecture's lesson, end to end: two copies of the project, as two machines would hold them.

Each has its own state folder and its own registry on another port, and makes everything
from nothing (`reuse: no`: its own debootstrap of the base image, no build cache, nothing
taken from the other). Then `doit verify` in each passes against the lock the other wrote,
and exercise 2's image has the same content digest in both, although the builder gave the
two images different ids.
"""
from __future__ import annotations

import shutil

from clones import clone


def test_each_verifies_against_the_others_lock(tmp_path, make_registry):
    one = clone(tmp_path, make_registry().host, name="one", AC295_REUSE="no",
                AC295_STATE_DIR=".state-one")
    two = clone(tmp_path, make_registry().host, name="two", AC295_REUSE="no",
                AC295_STATE_DIR="elsewhere/state")
    for project in (one, two):
        run = project.doit()
        assert "debootstrap" in run.stdout  # its own base image, not the other's
        project.doit("lock")
    shutil.copy(one.root / "ac295.lock", tmp_path / "one.lock")
    shutil.copy(two.root / "ac295.lock", one.root / "ac295.lock")
    shutil.copy(tmp_path / "one.lock", two.root / "ac295.lock")
    for project in (one, two):
        run = project.doit("verify", check=False)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert "match ac295.lock" in run.stdout
    images = [p.local("exercise2:image") for p in (one, two)]
    records = [p.record("exercise2:image") for p in (one, two)]
    assert images[0] and images[1] and images[0]["image_id"] != images[1]["image_id"]
    assert records[0] == records[1]
    print(f"FIGURE two machines: verify passed both ways; exercise2 content digest "
          f"{records[0]['content_digest'][:19]} in both, image ids "
          f"{images[0]['image_id'][7:19]} and {images[1]['image_id'][7:19]}")
