"""The VM rung end to end: Debian's kernel, the pushed exercise-2 image as the initramfs, a
qemu boot (TCG here: /dev/kvm exists but guests hang), and the same answer."""
from __future__ import annotations

from tasks.engine.client import Engine
from tasks.vm import initramfs

STEPS = {"vm:kernel", "vm:image", "vm:question"}


def test_the_vm_gives_the_answer_and_a_second_run_does_nothing(project):
    project.forget(*STEPS)  # a first run, whatever ran before in this session
    run = project.doit("vm")
    assert STEPS <= set(run.executed)
    assert "Answer: 2640" in run.stdout
    assert "TCG" in run.stdout or "KVM" in run.stdout  # it says which
    record = project.record("vm:question")
    assert record is not None and record["exit_code"] == 0
    assert "Answer: 2640" in record["stdout"] and "Kernel" not in record["stdout"]
    kernel = project.record("vm:kernel")
    assert kernel is not None and kernel["manifest"][0].startswith("linux-image-")
    again = project.doit("vm")
    assert again.executed == [] and STEPS <= set(again.skipped)


def test_the_initramfs_is_the_same_bytes_for_the_same_image(project, tmp_path):
    """Identified by content: made twice from one image, the same sha256 as recorded."""
    image_id = project.local("vm:image")["image_id"]
    engine = Engine(project="/test")
    one = initramfs.from_image(engine, image_id, tmp_path / "one.cpio")
    two = initramfs.from_image(engine, image_id, tmp_path / "two.cpio")
    assert one == two == project.local("vm:question")["initramfs"]


def test_an_edit_of_the_command_reruns_only_the_boot(project):
    spec = project.root / "exercises/vm/exercise.yml"
    text = spec.read_text()
    spec.write_text(text.replace("command: python3 /app/Question.py",
                                 "command: python3 /app/Question.py && echo booted"))
    try:
        run = project.doit("vm")
        assert set(run.executed) == {"vm:question"}
        assert "made from the same image content; reused" in run.stdout  # same image, same file
        assert "making the initramfs" not in run.stdout
    finally:
        spec.write_text(text)
    project.doit("vm")
