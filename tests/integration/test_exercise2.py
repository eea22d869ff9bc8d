"""Exercise 2 end to end on the real engine and registry, and its incremental rules.

The tests run in file order on one project copy (the `project` fixture): the first run does
everything (mmdebstrap included), the following ones change one thing and check what reran.
"""
from __future__ import annotations

from pathlib import Path

import docker
import requests

from tasks.engine import registry as registry_mod

from clones import leftovers

STEPS = ["exercise2:image", "exercise2:question", "exercise2:push"]


def _ref(project) -> str:
    return f"{project.registry}/{project.hub_user}/ac295_playground:exercise2"


def _steps(names: list[str]) -> list[str]:
    return sorted(n for n in names if n.startswith("exercise2:"))


def _record(project, step: str) -> dict | None:
    return project.record(f"exercise2:{step}")


def _local(project, step: str) -> dict:
    found = project.local(f"exercise2:{step}")
    assert found is not None, step
    return found


def test_first_run_builds_checks_and_pushes(project, engine: docker.DockerClient) -> None:
    run = project.doit("exercise2")
    assert _steps(run.executed) == sorted(STEPS)
    assert "Answer: 2640" in run.stdout
    push = _local(project, "push")
    assert push["digest"].startswith("sha256:")
    assert _record(project, "push") == {"schema": 2, "task": "exercise2:push",
                                        "content_digest": _record(project, "image")[
                                            "content_digest"]}
    served = registry_mod.manifest_digest(registry_mod.Reference.parse(_ref(project)))
    assert served == push["digest"]


def test_image_pulled_back_from_registry_prints_the_answer(project, engine) -> None:
    ref = _ref(project)
    image_id = _local(project, "image")["image_id"]
    engine.images.remove(ref)  # untag: the local copy goes, the registry's stays
    pulled = engine.images.pull(ref)
    assert pulled.id == image_id
    output = engine.containers.run(ref, ["python3", "/app/Question.py"], remove=True)
    assert b"Answer: 2640" in output


def test_second_run_executes_nothing_and_pushes_no_blob(project) -> None:
    uploads = project.registry_uploads()
    assert uploads > 0
    run = project.doit("exercise2")
    assert run.executed == []
    assert set(STEPS) <= set(run.skipped)
    assert project.registry_uploads() == uploads


def test_editing_a_dockerignored_file_reruns_nothing(project) -> None:
    notes = project.root / "exercises/exercise2/NOTES.md"
    notes.write_text(notes.read_text() + "\nA note that changes nothing.\n")
    run = project.doit("exercise2")
    assert run.executed == []


def test_editing_question_reruns_build_run_and_push_only(project) -> None:
    uploads = project.registry_uploads()
    question = project.root / "exercises/exercise2/Question.py"
    question.write_text(question.read_text() + "\n# an edit that changes the image\n")
    run = project.doit("exercise2")
    assert _steps(run.executed) == sorted(STEPS)
    assert not [n for n in run.executed if n.startswith("base:")]
    assert project.registry_uploads() > uploads
    assert project.doit("exercise2").executed == []


def test_removed_image_is_rebuilt(project, engine) -> None:
    image_id = _local(project, "image")["image_id"]
    engine.images.remove(image_id, force=True)
    run = project.doit("exercise2")
    assert "exercise2:image" in run.executed
    new_id = _local(project, "image")["image_id"]
    assert engine.images.get(_ref(project)).id == new_id


def test_tag_deleted_from_registry_is_pushed_again(project) -> None:
    ref = registry_mod.Reference.parse(_ref(project))
    digest = registry_mod.manifest_digest(ref)
    assert digest
    url = f"{ref.base_url}/v2/{ref.repository}/manifests/{digest}"
    assert requests.delete(url, timeout=10).status_code == 202
    assert registry_mod.manifest_digest(ref) is None
    run = project.doit("exercise2")
    assert _steps(run.executed) == ["exercise2:push"]
    assert registry_mod.manifest_digest(ref) == _local(project, "push")["digest"]


def test_failing_check_shows_output_writes_no_record_leaves_no_container(project,
                                                                          engine) -> None:
    spec = project.root / "exercises/exercise2/exercise.yml"
    original = spec.read_text()
    spec.write_text(original.replace("^Answer: 2640$", "^Answer: 1$"))
    try:
        run = project.doit("exercise2", check=False)
        assert run.returncode != 0
        out = run.stdout + run.stderr
        assert "does not match /^Answer: 1$/" in out
        assert "Answer: 2640" in out  # the container's own output is shown
        assert "Traceback" not in out
        assert _record(project, "question") is None
        assert leftovers(engine, project, "exercise2:question") == []
        assert leftovers(engine, project) == []
        assert "exercise2:push" not in run.executed
    finally:
        spec.write_text(original)
    run = project.doit("exercise2")
    assert _steps(run.executed) == ["exercise2:question"]


def test_base_pipeline_pushes_the_base_image(project) -> None:
    project.doit("forget", "base:push")  # the copy is shared: another test may have pushed it
    run = project.doit("base")
    assert "base:push" in run.executed
    assert project.doit("base").executed == []
    ref = registry_mod.Reference.parse(f"{project.registry}/ac295/base:bookworm")
    assert registry_mod.manifest_digest(ref) == _record_base(project)["digest"]


def _record_base(project) -> dict:
    found = project.local("base:push")
    assert found is not None
    return found


def test_two_concurrent_runs_on_one_tree(project) -> None:
    """The second run waits for the first (run lock) and says so; the state stays sound."""
    import subprocess
    question = project.root / "exercises/exercise2/Question.py"
    question.write_text(question.read_text() + "\n# concurrent runs\n")
    procs = [subprocess.Popen([str(project.root / "script/doit"), "exercise2"],
                              cwd=project.root, env=project.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("another run (pid" in out for out in outputs) == 1
    assert sum(".  exercise2:image" in out for out in outputs) == 1  # built once, not twice
    assert project.doit("exercise2").executed == []
    status = project.doit("list", "--status", "--all")
    assert "exercise2:push" in status.stdout


def test_local_registry_listens_on_loopback_only(project) -> None:
    project.doit("registry_start")
    port = int(project.registry.rsplit(":", 1)[1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, and nothing on :: or 0.0.0.0
