"""Build contexts assembled from the exercise's folder and folders other steps made.

The oracle is the file system itself, read here: each assembled path's kind, link target,
mode and bytes against the source it comes from.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tasks.engine import contexts
from tasks.errors import BuildError


def tree(root: Path) -> dict[str, str]:
    """{path: what it is} under ``root``: "dir 755", "link -> target", "file 644 <bytes>"."""
    found = {}
    for walked, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(walked) / name
            rel = path.relative_to(root).as_posix()
            info = path.lstat()
            mode = oct(stat.S_IMODE(info.st_mode))[2:]
            if stat.S_ISLNK(info.st_mode):
                found[rel] = f"link -> {os.readlink(path)}"
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = f"dir {mode}"
            else:
                found[rel] = f"file {mode} {path.read_bytes()!r}"
    return found


@pytest.fixture
def sources(tmp_path):
    context = tmp_path / "exercise" / "image"
    (context / "src").mkdir(parents=True)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (context / "src" / "app.py").write_text("print(1)\n")
    (context / "run.sh").write_text("#!/bin/sh\n")
    (context / "run.sh").chmod(0o755)
    (context / "latest").symlink_to("src/app.py")
    (context / "code").symlink_to("src")  # a link to a folder: kept as a link
    (context / ".dockerignore").write_text("*.tmp\n")
    wheels = tmp_path / "state" / "venv" / "wheelhouse"
    (wheels / "deep").mkdir(parents=True)
    (wheels / "six-1.16.0-py2.py3-none-any.whl").write_bytes(b"PK\x03\x04six")
    (wheels / "requirements.lock").write_text("six==1.16.0 --hash=sha256:00\n")
    (wheels / "deep" / "x.tmp").write_text("scratch\n")
    wheels.chmod(0o750)
    return context, wheels


def test_the_tree_is_the_context_with_each_folder_at_its_place(sources, tmp_path):
    context, wheels = sources
    dest = contexts.assemble(context, {"wheelhouse": wheels}, tmp_path / "tree", "ex:image")
    want = tree(context) | {f"wheelhouse/{rel}": what for rel, what in tree(wheels).items()}
    want["wheelhouse"] = "dir 750"  # the included folder's own mode
    assert tree(dest) == want
    assert (dest / "latest").is_symlink() and (dest / "code").is_symlink()
    # hard links: assembling copies nothing
    assert (dest / "src/app.py").stat().st_ino == (context / "src/app.py").stat().st_ino


def test_a_nested_place_makes_the_folders_that_lead_to_it(sources, tmp_path):
    context, wheels = sources
    dest = contexts.assemble(context, {"deps/wheels": wheels}, tmp_path / "tree", "ex:image")
    assert (dest / "deps").is_dir() and not (dest / "deps").is_symlink()
    assert (dest / "deps/wheels/requirements.lock").read_text().startswith("six==")
    assert not (context / "deps").exists()  # the source tree is never written


def test_the_tree_follows_every_change_of_its_sources(sources, tmp_path):
    context, wheels = sources
    dest = tmp_path / "tree"
    contexts.assemble(context, {"wheelhouse": wheels}, dest, "ex:image")
    (context / "run.sh").unlink()                                # removed
    (context / "new.txt").write_text("new\n")                    # added
    (context / "latest").unlink()
    (context / "latest").symlink_to("run.sh")                    # a link retargeted
    swapped = context / "src" / "app.py"                         # replaced by another file
    info = swapped.stat()                                        # of the same size and time
    other = context / "src" / "app.py.new"
    other.write_text("print(2)\n")
    os.utime(other, ns=(info.st_atime_ns, info.st_mtime_ns))
    other.rename(swapped)
    (wheels / "deep" / "x.tmp").unlink()
    (wheels / "deep").rmdir()                                    # a folder gone
    (wheels / "six-1.16.0-py2.py3-none-any.whl").rename(wheels / "six-1.17.0-py2.py3-none-any.whl")
    contexts.assemble(context, {"wheelhouse": wheels}, dest, "ex:image")
    want = tree(context) | {f"wheelhouse/{rel}": what for rel, what in tree(wheels).items()}
    want["wheelhouse"] = "dir 750"
    assert tree(dest) == want
    assert (dest / "src/app.py").read_text() == "print(2)\n"


def test_an_include_dropped_from_the_spec_leaves_the_tree(sources, tmp_path):
    context, wheels = sources
    dest = contexts.assemble(context, {"wheelhouse": wheels}, tmp_path / "tree", "ex:image")
    contexts.assemble(context, {}, dest, "ex:image")
    assert tree(dest) == tree(context)


def test_without_hard_links_it_copies_and_still_sees_a_same_size_same_time_swap(
        sources, tmp_path, monkeypatch):
    context, wheels = sources

    def no_links(*_args):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    dest = contexts.assemble(context, {"wheelhouse": wheels}, tmp_path / "tree", "ex:image")
    assert (dest / "src/app.py").stat().st_ino != (context / "src/app.py").stat().st_ino
    app = context / "src" / "app.py"
    info = app.stat()
    app.write_text("print(7)\n")  # the same size, and the time put back
    os.utime(app, ns=(info.st_atime_ns, info.st_mtime_ns))
    contexts.assemble(context, {"wheelhouse": wheels}, dest, "ex:image")
    assert (dest / "src/app.py").read_text() == "print(7)\n"
    assert oct((dest / "run.sh").stat().st_mode & 0o777) == "0o755"


def test_a_missing_folder_says_which_step_to_run(sources, tmp_path):
    context, _ = sources
    with pytest.raises(BuildError) as err:
        contexts.assemble(context, {"wheelhouse": tmp_path / "nothing"}, tmp_path / "tree",
                          "venv:image")
    message = str(err.value)
    assert message.startswith("venv:image: ") and str(tmp_path / "nothing") in message
    assert "Run the step that makes it (doit why venv:image names it)" in message
    assert not (tmp_path / "tree").exists()  # nothing half made


def test_a_place_the_context_already_holds_is_refused(sources, tmp_path):
    context, wheels = sources
    with pytest.raises(BuildError) as err:
        contexts.assemble(context, {"src": wheels}, tmp_path / "tree", "ex:image")
    assert f"{context / 'src'} is in the build context" in str(err.value)
    assert "Rename one of them." in str(err.value)
