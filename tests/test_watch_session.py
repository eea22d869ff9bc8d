"""The parts of `doit watch` that need no engine: when a kept service counts as the same, what
becomes of services a round started, the one line at the end, the events' filter, and the
per-process file digests it relies on."""
from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from helpers import write_project
from tasks import digests, process, watch
from tasks.engine.client import Engine
from tasks.kinds import records

SPEC = """\
doc: a db and its network
steps:
  image: {build: ., tag: "me/app:v1"}
  net: {network: "wchnet"}
  db:
    doc: the db
    run: image
    detach: true
    network: net
    env: {MODE: a}
"""


class Ended:
    """End actions that note that they ran."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def action(self, name: str) -> list:
        return [(self.names.append, (name,))]


@pytest.fixture
def session(tmp_path, monkeypatch) -> watch.Session:
    root = write_project(tmp_path / "p", {"exercises/ex/exercise.yml": SPEC,
                                          "exercises/ex/Dockerfile": "FROM scratch\n"})
    out = io.StringIO()
    made = watch.Session(root, [], watch.Database(None, "", None, None), out)
    made.engine = Engine(factory=_no_engine)
    monkeypatch.setattr("doit.get_var", lambda name, default=None: default)
    made.load()
    assert made.graph is not None and not made.graph.broken
    return made


def _no_engine() -> None:
    raise AssertionError("no engine in these tests")


def _record(session: watch.Session, task: str, **data) -> None:
    assert session.graph is not None
    records.write(records.path_in(session.graph.config.state, task), {"task": task, **data})


def test_identity_follows_image_config_and_what_it_follows(session, tmp_path) -> None:
    _record(session, "ex:image", content_digest="sha256:one")
    session.adopt("ex:net", [], ok=True)
    first = session.identity("ex:db")
    assert session.identity("ex:db") == first  # nothing changed
    _record(session, "ex:image", content_digest="sha256:two")  # another image
    second = session.identity("ex:db")
    assert second != first
    session.adopt("ex:net", [], ok=True)  # the network it is on started again
    third = session.identity("ex:db")
    assert third != second
    spec = session.root / "exercises/ex/exercise.yml"
    spec.write_text(SPEC.replace("doc: the db", "doc: another doc line"))
    session.load()
    assert session.identity("ex:db") == third  # a doc line is not the service's config
    spec.write_text(SPEC.replace("MODE: a", "MODE: b"))
    session.load()
    assert session.identity("ex:db") != third


def test_a_service_not_kept_is_not_up(session) -> None:
    assert session.still_up("ex:db") is False


def test_a_kept_service_whose_identity_moved_is_not_up_without_asking_the_engine(session):
    _record(session, "ex:image", content_digest="sha256:one")
    session.adopt("ex:db", [], ok=True)
    _record(session, "ex:image", content_digest="sha256:two")
    assert session.still_up("ex:db") is False  # the fake engine was not asked


def test_a_failed_start_is_removed_at_once_and_not_kept(session) -> None:
    ended = Ended()
    session.adopt("ex:db", ended.action("ex:db"), ok=False)
    assert ended.names == ["ex:db"] and "ex:db" not in session.live


def test_retire_removes_once(session) -> None:
    ended = Ended()
    session.adopt("ex:db", ended.action("ex:db"), ok=True)
    session.retire("ex:db")
    session.retire("ex:db")
    assert ended.names == ["ex:db"] and not session.live


def test_a_step_that_is_gone_is_removed_on_reload(session) -> None:
    ended = Ended()
    session.adopt("ex:net", ended.action("ex:net"), ok=True)
    session.adopt("ex:db", ended.action("ex:db"), ok=True)
    spec = session.root / "exercises/ex/exercise.yml"
    spec.write_text(SPEC.replace("  db:\n", "  db2:\n"))
    session.load()
    assert ended.names == ["ex:db"] and list(session.live) == ["ex:net"]


def test_a_broken_spec_is_said_once_removes_its_services_and_is_picked_up(session) -> None:
    ended = Ended()
    session.adopt("ex:db", ended.action("ex:db"), ok=True)
    spec = session.root / "exercises/ex/exercise.yml"
    spec.write_text(SPEC.replace("detach: true", "detach: yes-please"))
    session.load()
    session.load()
    said = [line for line in session.out.getvalue().splitlines()
            if "not run until its spec is fixed" in line]
    assert len(said) == 1 and "exercise.yml:" in said[0], said
    assert ended.names == ["ex:db"]
    spec.write_text(SPEC)
    session.load()
    assert "ac295: ex loads again" in session.out.getvalue()


def test_stop_removes_newest_first_and_says_one_line(session, monkeypatch, capsys) -> None:
    monkeypatch.setattr(process, "_signals", ["SIGTERM"])
    monkeypatch.setattr(process, "_said", [])
    ended = Ended()
    for name in ("ex:net", "ex:db"):
        session.adopt(name, ended.action(name), ok=True)
    assert session.stop() == 143
    assert ended.names == ["ex:db", "ex:net"]
    err = capsys.readouterr().err
    assert err == "ac295: watch stopped by SIGTERM; removed ex:db, ex:net.\n"
    assert process._said == [True]


def test_a_change_nothing_reads_starts_no_round(session, monkeypatch) -> None:
    rounds: list[list[str]] = []
    monkeypatch.setattr(session, "cycle", rounds.append)
    root = session.root
    session.on_change({root / "exercises/ex/.Dockerfile.swp": watch.ADDED,
                       root / ".ac295/records/ex/image.json": watch.MODIFIED,
                       root / "exercises/ex/notes.txt~": watch.MODIFIED})
    assert rounds == []
    session.on_change({root / "exercises/ex/Dockerfile": watch.MODIFIED})
    assert rounds == [["ex:db", "ex:image"]]


def test_file_digests_are_kept_while_the_file_is_unchanged(tmp_path, monkeypatch) -> None:
    path = tmp_path / "f"
    path.write_text("one")
    later = time.time_ns() + 10 * digests.RACY_NS
    monkeypatch.setattr(digests.time, "time_ns", lambda: later)  # written long ago
    first = digests.file_sha256(path)

    def no_reading(*args, **kwargs):
        raise AssertionError("an unchanged file is not read again")

    monkeypatch.setattr(Path, "open", no_reading)
    assert digests.file_sha256(path) == first
    monkeypatch.undo()
    path.write_text("two")  # same size, new bytes: the ctime moved
    assert digests.file_sha256(path) != first


def test_a_file_written_just_now_is_not_kept(tmp_path) -> None:
    path = tmp_path / "f"
    path.write_text("one")
    digests.file_sha256(path)
    assert str(path) not in digests._known  # its times are within the racy window


def test_watching_starts_before_the_first_run(session, monkeypatch) -> None:
    """A save during the first run, or right after it, is seen: the events are being
    gathered before the first round starts."""
    monkeypatch.setattr(process, "_signals", [])
    monkeypatch.setattr(process, "_said", [])
    order: list[str] = []
    monkeypatch.setattr(session, "cycle", lambda selection: order.append("run"))

    def events(_session):
        order.append("watching")
        yield {}
        order.append("waiting")
        raise KeyboardInterrupt

    session.events = events
    assert session.run() == 130
    assert order == ["watching", "run", "waiting"]


def test_a_broken_ac295_yml_runs_nothing_until_fixed(session, monkeypatch) -> None:
    rounds: list[list[str]] = []
    monkeypatch.setattr(session, "cycle", rounds.append)
    config = session.root / "ac295.yml"
    good = config.read_text()
    config.write_text("variables:\n  registry: [oops\n")
    session.on_change({config: watch.MODIFIED})
    session.on_change({session.root / "exercises/ex/Dockerfile": watch.MODIFIED})
    assert rounds == []
    said = [line for line in session.out.getvalue().splitlines() if "watching goes on" in line]
    assert len(said) == 1 and "ac295.yml" in said[0], said
    config.write_text(good)
    session.on_change({config: watch.MODIFIED})
    assert "ac295: the project loads again" in session.out.getvalue()
    assert rounds and "ex:image" in rounds[0]
