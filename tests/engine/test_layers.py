"""Two exports of one image compared: the first layer that differs and its files, or the
config; exports written by hand here, as buildah (OCI layout) and docker (save) write them."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from tasks.engine import layers
from tasks.repro import report


def tar_bytes(files: dict[str, tuple[bytes, int, int]]) -> bytes:
    """A layer: path -> (content, mode, mtime)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path, (content, mode, mtime) in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(content), mode, mtime
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def blob(folder: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = folder / "blobs" / "sha256" / digest.split(":")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def oci(folder: Path, layer_files: list[dict[str, tuple[bytes, int, int]]],
        config: dict) -> Path:
    """An OCI layout with gzip'd layers, as ``buildah push oci:`` writes one."""
    folder.mkdir(parents=True)
    blobs = [blob(folder, gzip.compress(tar_bytes(files), mtime=0)) for files in layer_files]
    manifest = {"schemaVersion": 2, "config": {"digest": blob(folder, json.dumps(
        config).encode())}, "layers": [{"digest": d} for d in blobs]}
    (folder / "index.json").write_text(json.dumps(
        {"manifests": [{"digest": blob(folder, json.dumps(manifest).encode())}]}))
    return folder


BASE = {"etc/os-release": (b"debian\n", 0o644, 0)}
APP = {"app/Question.py": (b"print(2640)\n", 0o644, 1686355200)}
CONFIG = {"created": "2023-06-10T00:00:00Z", "history": [{"created": "2023-06-10T00:00:00Z"}]}


def test_the_same_bytes_are_identical(tmp_path):
    a = layers.read(oci(tmp_path / "a", [BASE, APP], CONFIG))
    b = layers.read(oci(tmp_path / "b", [BASE, APP], CONFIG))
    found = layers.compare(a, b)
    assert found.identical and found.layer == 0 and a.digest == b.digest
    assert report("ex:image", "buildah", found) == [
        f"ex:image: identical: {a.digest} (made twice with buildah: no cache, two folders, "
        "at least 2 s apart)"]


def test_a_stamp_is_found_in_the_layer_it_is_in(tmp_path):
    stamp = dict(APP, stamp=(b"Sun Dec  6 05:40:13 UTC 2026\n", 0o644, 1686355200))
    later = dict(APP, stamp=(b"Sun Dec  6 05:40:21 UTC 2026\n", 0o644, 1686355200))
    found = layers.compare(layers.read(oci(tmp_path / "a", [BASE, stamp], CONFIG)),
                           layers.read(oci(tmp_path / "b", [BASE, later], CONFIG)))
    assert not found.identical and found.layer == 2
    assert [path for path, _, _ in found.files] == ["/stamp"]
    path, one, two = found.files[0]
    assert one is not None and two is not None and one.size == two.size == 29
    assert one.sha256 != two.sha256 and one.mtime == two.mtime
    text = "\n".join(report("ex:image", "buildah", found))
    assert "the first layer that differs: layer 2 of 2" in text and "    /stamp" in text
    assert "mode 0644" in text and "mtime 2023-06-10 00:00:00" in text


def test_a_time_a_mode_and_a_file_only_one_side_has(tmp_path):
    a = dict(APP, **{"app/x": (b"x", 0o644, 1), "app/only-a": (b"", 0o644, 1)})
    b = dict(APP, **{"app/x": (b"x", 0o755, 2)})
    found = layers.compare(layers.read(oci(tmp_path / "a", [BASE, a], CONFIG)),
                           layers.read(oci(tmp_path / "b", [BASE, b], CONFIG)))
    assert {path: (one and one.mode, two and two.mode) for path, one, two in found.files} == {
        "/app/only-a": ("0644", None), "/app/x": ("0644", "0755")}
    assert "(not in this layer)" in "\n".join(report("t", "docker", found))


def test_equal_layers_leave_the_config_to_blame(tmp_path):
    other = {"created": "2026-12-06T05:40:21Z", "history": [{"created": "2026-12-06T05:40:21Z"}]}
    found = layers.compare(layers.read(oci(tmp_path / "a", [BASE, APP], CONFIG)),
                           layers.read(oci(tmp_path / "b", [BASE, APP], other)))
    assert found.layer == 0 and found.config == ["created", "history[0].created"]
    assert "every layer is identical" in "\n".join(report("t", "docker", found))


def test_a_docker_save_archive_reads_the_same_way(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    config = json.dumps(CONFIG).encode()
    layer = tar_bytes(APP)
    with tarfile.open(folder / "image.tar", "w") as tar:
        for name, data in (("abc/layer.tar", layer), ("cfg.json", config), (
                "manifest.json", json.dumps([{"Config": "cfg.json",
                                              "Layers": ["abc/layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    found = layers.read(folder)
    assert found.digest == "sha256:" + hashlib.sha256(config).hexdigest()
    assert found.blobs == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert list(layers.entries(found.layers[0])) == ["/app/Question.py"]


def test_json_differences_by_path():
    assert list(layers.differences({"a": [1, {"b": 2}], "c": 1}, {"a": [1, {"b": 3}]})) == [
        "a[1].b", "c"]
    assert list(layers.differences([1], [1, 2], "h")) == ["h"]
