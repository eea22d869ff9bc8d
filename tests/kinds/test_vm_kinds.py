"""The kinds of the VM, rootless and LXC rungs (kernel, vm, save, run with runtime: rootless
or lxc) and measure: what they parse, what they refuse, and their up-to-date checks."""
from __future__ import annotations

import io
import json
import os
import tarfile
import textwrap
from pathlib import Path

import pytest

import helpers
from helpers import WHERE, runtime
from tasks.kinds import records
from tasks.kinds import kernel as kernel_mod
from tasks.kinds import measure as measure_mod
from tasks.kinds import save as save_mod
from tasks.kinds.kernel import KernelStep
from tasks.kinds.measure import MeasureStep
from tasks.kinds.run import RunStep
from tasks.kinds.save import SaveStep
from tasks.kinds.vm import VmStep
from tasks.dsl.config import Config
from tasks.kinds.runtime import Runtime

BASE = """\
doc: d
steps:
  img: {build: ., tag: "{registry}/me/img:1"}
  net: {network: hello}
"""


def project(root: Path, steps: str) -> Path:
    return helpers.write_project(root, {
        "exercises/ex/Dockerfile": "FROM scratch\n", "exercises/ex/m.sh": "true\n",
        "exercises/ex/exercise.yml": BASE + textwrap.indent(textwrap.dedent(steps), "  ")})


@pytest.mark.parametrize("memory, fine", [(16384, True), (16385, False),
                                           (1073741824, False)])
def test_a_vms_memory_is_bounded_and_said_at_its_line(tmp_path, memory, fine):
    from tasks.errors import SpecError

    root = project(tmp_path, f"""\
        linux: {{kernel: linux-image-cloud-amd64}}
        box: {{vm: img, kernel: linux, command: "true", memory: {memory}}}
    """)
    if fine:
        assert helpers.load(root)["ex"].steps["box"].memory == memory
        return
    with pytest.raises(SpecError) as caught:
        helpers.load(root)
    text = str(caught.value)
    assert "exercise.yml:6 (key 'steps.box.memory')" in text  # its line, by hand
    assert f"{memory} MB is more than a VM here may take" in text
    assert "Give at most 16384 (MB, not bytes)." in text


def test_the_vm_rung_parses(tmp_path):
    root = project(tmp_path, """\
        linux: {kernel: linux-image-cloud-amd64}
        box: {vm: img, kernel: linux, command: "python3 /app/Q.py", memory: 512,
              expect: {stdout: ["^Answer"]}}
        file: {save: img}
        podman: {run: file, runtime: rootless, command: [id, -u]}
        lxc: {run: img, runtime: lxc, command: [hostname]}
        bench: {measure: "sh m.sh > out.txt", deps: [m.sh], targets: [out.txt]}
    """)
    steps = helpers.load(root)["ex"].steps
    state = (root / ".ac295").resolve()
    assert steps["linux"] == KernelStep(**common(steps["linux"]), package="linux-image-cloud-amd64",
                                        folder=state / "vm" / "ex" / "linux")
    box = steps["box"]
    assert isinstance(box, VmStep)
    assert (box.image, box.kernel, box.command, box.memory, box.timeout) == \
        ("img", "linux", "python3 /app/Q.py", 512, 300)
    assert box.initramfs == state / "vm" / "ex" / "box.cpio"
    assert steps["file"] == SaveStep(**common(steps["file"]), image="img",
                                     archive=state / "archives" / "ex" / "file.tar")
    podman = steps["podman"]
    assert isinstance(podman, RunStep) and podman.runtime == "rootless"
    lxc = steps["lxc"]
    assert isinstance(lxc, RunStep) and (lxc.runtime, lxc.image, lxc.network) == ("lxc", "img",
                                                                                 None)
    assert isinstance(steps["bench"], MeasureStep)


def common(step) -> dict:
    return {k: getattr(step, k) for k in ("exercise", "name", "doc", "after", "where", "lines")}


@pytest.mark.parametrize("steps, key, words", [
    ("p: {run: img, runtime: podman}", "steps.p.runtime", "unknown runtime 'podman'"),
    ("f: {save: img}\np: {run: f, runtime: rootless, network: net}", "steps.p.network",
     "no network"),
    ("p: {run: img, runtime: rootless}", "steps.p.run", "makes no image archive"),
    ("p: {run: img, runtime: lxc, network: net}", "steps.p.network",
     "an LXC run has no network"),
    ("f: {save: img}\np: {run: f, runtime: lxc}", "steps.p.run", "makes no image"),
    ("p: {run: img, runtime: lcx}", "steps.p.runtime", "Did you mean 'lxc'"),
    ("p: {run: img, runtime: lxc, user: bob}", "steps.p.user", "an LXC run has no 'user'"),
    ("k: {kernel: linux-image-cloud-amd64}\nv: {vm: img, kernel: img, command: x}",
     "steps.v.kernel", "makes no kernel"),
    ("v: {vm: img, command: x}", "steps.v.kernel", "'kernel'"),
    ("m: {measure: 'true'}", "steps.m.measure", "'targets'"),
    ("s: {save: net}", "steps.s.save", "makes no image"),
])
def test_what_the_vm_rung_refuses(tmp_path, steps, key, words):
    err = helpers.spec_error(project(tmp_path, steps))
    assert err.where.key == key and words in str(err)


# --- up-to-date checks ------------------------------------------------------------------------

def kernel_step(tmp_path: Path) -> KernelStep:
    return KernelStep(exercise="ex", name="linux", doc="", after=(), where=WHERE,
                      package="linux-image-cloud-amd64", folder=tmp_path / "k")


def test_the_kernel_is_up_to_date_while_its_file_is_the_one_fetched(tmp_path):
    rt, _ = runtime(tmp_path)
    step = kernel_step(tmp_path)
    assert not kernel_mod.uptodate(rt, step).fresh  # no record
    step.folder.mkdir()
    step.vmlinuz.write_bytes(b"kernel")
    record = rt.record_path(step.task)
    records.write(record, {"manifest": ["linux-image-x=1"],
                           "sha256": "sha256:" + __import__("hashlib").sha256(b"kernel").hexdigest()})
    records.write(records.local_of(record), {"stat": [0, 0, 0]})  # stat moved, bytes the same
    verdict = kernel_mod.uptodate(rt, step)
    assert not verdict.fresh and "network card's modules" in verdict.reason  # fetched before
    (step.folder / "modules").mkdir()
    (step.folder / "modules" / "order").write_text("virtio_net\n")
    assert kernel_mod.uptodate(rt, step).fresh
    step.vmlinuz.write_bytes(b"other!")
    verdict = kernel_mod.uptodate(rt, step)
    assert not verdict.fresh and "not the kernel it fetched" in verdict.reason
    step.vmlinuz.unlink()
    assert "missing" in kernel_mod.uptodate(rt, step).reason


def archive(path: Path, config_digest: str) -> None:
    manifest = json.dumps([{"Config": f"{config_digest}.json", "RepoTags": None,
                            "Layers": []}]).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))


def test_the_archive_is_up_to_date_while_it_holds_the_image_made(tmp_path):
    rt, _ = runtime(tmp_path)
    step = SaveStep(exercise="ex", name="file", doc="", after=(), where=WHERE, image="img",
                    archive=tmp_path / "a" / "file.tar")
    image_record = rt.record_path("ex:img")
    records.write(image_record, {"content_digest": "sha256:c"})
    records.write(records.local_of(image_record), {"image_id": "sha256:" + "1" * 64})
    records.write(rt.record_path(step.task), {"content_digest": "sha256:c"})
    assert "missing" in save_mod.uptodate(rt, step).reason
    archive(step.archive, "1" * 64)
    assert save_mod.uptodate(rt, step).fresh
    records.write(records.local_of(image_record), {"image_id": "sha256:" + "2" * 64})
    assert "not the image" in save_mod.uptodate(rt, step).reason


@pytest.mark.parametrize("value, fresh", [("", True), ("0", True), ("1", False), ("yes", False)])
def test_a_measurement_reruns_when_asked(tmp_path, value, fresh):
    rt = Runtime(Config(root=tmp_path, state=tmp_path / "s",
                        variables={"registry": "127.0.0.1:5000", "rerun": value}))
    step = MeasureStep(exercise="ex", name="m", doc="", after=(), where=WHERE, commands=("x",),
                       deps=(), targets=(tmp_path / "out",))
    assert measure_mod.not_asked(rt, step).fresh is fresh


def test_a_measurement_is_not_in_the_lock(tmp_path):
    from tasks.kinds import KINDS
    from tasks.toplevel import locked_steps

    root = project(tmp_path, """\
        bench: {measure: "sh m.sh > out.txt", deps: [m.sh], targets: [out.txt]}
        recipe: {sh: "sh m.sh > o2.txt", deps: [m.sh], targets: [o2.txt]}
    """)
    exercise = helpers.load(root)["ex"]
    assert [s.name for s in locked_steps(KINDS, [exercise])] == ["img", "recipe"]
    assert os.path.basename(str(exercise.steps["bench"].targets[0])) == "out.txt"
