"""Content identity without an engine: layer trees from folders and tars, config, manifests."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from helpers import fake_engine
from tasks.engine import content
from tasks.engine.content import LABEL_ROOTFS, LayerCache


def make_layer(root: Path) -> Path:
    """A layer folder: a dir, a file, an executable, a symlink, a hard link."""
    (root / "app").mkdir(parents=True)
    (root / "app" / "q.py").write_text("print(1)\n")
    (root / "app" / "run.sh").write_text("#!/bin/sh\n")
    (root / "app" / "run.sh").chmod(0o755)
    (root / "app" / "link").symlink_to("q.py")
    os.link(root / "app" / "q.py", root / "app" / "hard.py")
    return root


def tar_of(folder: Path, **kwargs) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", **kwargs) as tar:
        tar.add(folder, arcname=".")
    return buffer.getvalue()


def tree_of_tar(data: bytes) -> str:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        return content.tree_digest(content.tar_entries(tar))


def test_a_folder_and_its_tar_have_the_same_tree(tmp_path):
    layer = make_layer(tmp_path / "layer")
    assert content.tree_digest(content.dir_entries(layer)) == tree_of_tar(tar_of(layer))


def test_times_do_not_count_and_contents_modes_and_names_do(tmp_path):
    layer = make_layer(tmp_path / "layer")
    before = content.tree_digest(content.dir_entries(layer))
    os.utime(layer / "app" / "q.py", (1, 1))
    assert content.tree_digest(content.dir_entries(layer)) == before
    for edit in (lambda: (layer / "app" / "run.sh").chmod(0o700),
                 lambda: (layer / "app" / "q.py").write_text("print(2)\n"),
                 lambda: (layer / "app" / "link").unlink() or
                 (layer / "app" / "link").symlink_to("run.sh"),
                 lambda: (layer / "app" / "new").mkdir()):
        edit()
        after = content.tree_digest(content.dir_entries(layer))
        assert after != before
        before = after


def test_whiteouts_read_the_same_from_a_tar_and_from_overlayfs(tmp_path):
    # Docker's tar format: ".wh.<name>" hides a file below, ".wh..wh..opq" empties a folder.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("etc/.wh.motd", "var/cache/.wh..wh..opq"):
            info = tarfile.TarInfo(name)
            tar.addfile(info, io.BytesIO(b""))
    with tarfile.open(fileobj=io.BytesIO(buffer.getvalue()), mode="r|") as tar:
        entries = set(content.tar_entries(tar))
    assert entries == {("etc/motd", "whiteout", ""), ("var/cache", "opaque", "")}


def test_the_root_entry_of_a_tar_is_not_a_file(tmp_path):
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "a").write_text("x")
    entries = {e[0] for e in content.tar_entries(
        tarfile.open(fileobj=io.BytesIO(tar_of(layer)), mode="r|"))}
    assert entries == {"a"}


def test_config_part_leaves_out_our_labels():
    config = {"Cmd": ["python3"], "Env": ["A=1"], "Hostname": "abc", "Image": "sha256:x",
              "Labels": {"org.ac295.task": "e:i", "org.ac295.inputs-digest": "x", "team": "a"}}
    part = content.config_part(config)
    assert part["Labels"] == {"team": "a"}
    assert part["Cmd"] == ["python3"] and "Hostname" not in part and "Image" not in part


STATUS = """\
Package: python3
Status: install ok installed
Architecture: amd64
Version: 3.11.2-1+b1

Package: removed-one
Status: deinstall ok config-files
Version: 1.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
"""


def test_dpkg_status_gives_the_installed_packages():
    assert content.parse_dpkg_status(STATUS) == ["python3=3.11.2-1+b1", "tzdata=2024a-0+deb12u1"]


def test_manifest_of_a_rootfs_tarball(tmp_path):
    root = tmp_path / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(STATUS)
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(tar_of(root))
    assert content.manifest_of(tarball) == ["python3=3.11.2-1+b1", "tzdata=2024a-0+deb12u1"]


@pytest.mark.parametrize("text", [None, "not json", "[1, 2]"])
def test_a_missing_or_corrupt_layer_cache_starts_empty(tmp_path, text):
    path = tmp_path / "layers.json"
    if text is not None:
        path.write_text(text)
    cache = LayerCache(path)
    assert cache.trees == {}
    cache.trees["sha256:a"] = "sha256:b"
    cache.save()
    assert LayerCache(path).trees == {"sha256:a": "sha256:b"}


def inspected(labels: dict[str, str], layers: list[str]) -> dict:
    return {"Id": "sha256:img", "Config": {"Cmd": ["python3"], "Labels": labels},
            "RootFS": {"Layers": layers}, "GraphDriver": {"Name": "vfs", "Data": {}}}


def test_a_rootfs_label_stands_for_the_bottom_layer():
    engine, client = fake_engine()
    cache = LayerCache(None)
    cache.trees = {"sha256:top": "sha256:tree-top"}  # known: nothing is read from the engine
    client.api.inspect_image.side_effect = None  # answers the return_value set below
    client.api.inspect_image.return_value = inspected({LABEL_ROOTFS: "sha256:recipe-x"},
                                                      ["sha256:bottom-1", "sha256:top"])
    one = content.content_digest(engine, "sha256:img", cache)
    # another debootstrap (another bottom layer), the same recipe and packages: the same image
    client.api.inspect_image.return_value = inspected({LABEL_ROOTFS: "sha256:recipe-x"},
                                                      ["sha256:bottom-2", "sha256:top"])
    assert content.content_digest(engine, "sha256:img", cache) == one
    client.api.inspect_image.return_value = inspected({LABEL_ROOTFS: "sha256:recipe-y"},
                                                      ["sha256:bottom-1", "sha256:top"])
    assert content.content_digest(engine, "sha256:img", cache) != one
    client.api.get_image.assert_not_called()
