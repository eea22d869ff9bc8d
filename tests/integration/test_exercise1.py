"""Exercise 1 on the real engine and registry: pull, run, modify (commit), push, pull back."""
from __future__ import annotations

from tasks.engine import registry as registry_mod

STEPS = {"exercise1:upstream", "exercise1:question", "exercise1:modify", "exercise1:push",
         "exercise1:pushed", "exercise1:modified", "exercise1:unchanged"}


def _upstream(project) -> str:
    return f"{project.registry}/pavlosprotopapas/ac295_l2:latest"


def _mine(project) -> str:
    return f"{project.registry}/{project.hub_user}/ac295_playground:exercise1"


def test_first_run_pulls_modifies_and_pushes(project) -> None:
    run = project.doit("exercise1")
    assert STEPS <= set(run.executed)
    assert {"upstream:image", "upstream:push"} <= set(run.executed) | set(run.skipped)
    assert "Answer: 541" in run.stdout
    push = project.local("exercise1:push")
    served = registry_mod.manifest_digest(registry_mod.Reference.parse(_mine(project)))
    assert served == push["digest"]


def test_second_run_executes_nothing(project) -> None:
    uploads = project.registry_uploads()
    run = project.doit("exercise1")
    assert run.executed == []
    assert STEPS <= set(run.skipped)
    assert project.registry_uploads() == uploads


def test_pushed_image_pulled_back_holds_the_change_and_upstream_does_not(project,
                                                                         engine) -> None:
    for ref in (_mine(project), _upstream(project)):
        engine.images.remove(ref, force=True)  # go back to what the registry holds
        engine.images.pull(ref)
    mine = engine.containers.run(_mine(project), ["cat", "/app/student.txt"], remove=True)
    assert mine.decode().strip() == "maggie"
    upstream = engine.containers.run(
        _upstream(project), ["sh", "-c", "ls /app; test ! -e /app/student.txt"], remove=True)
    assert b"Question.py" in upstream and b"student.txt" not in upstream
    # the modified image still runs the question: its CMD was kept by the commit
    answer = engine.containers.run(_mine(project), remove=True)
    assert b"Answer: 541" in answer


def test_new_student_reruns_commit_push_and_checks_only(project) -> None:
    project.env["AC295_STUDENT"] = "john"
    try:
        run = project.doit("exercise1")
    finally:
        del project.env["AC295_STUDENT"]
    ran = {n for n in run.executed if n.startswith("exercise1:")}
    assert ran == {"exercise1:modify", "exercise1:push", "exercise1:pushed",
                   "exercise1:modified"}
    assert "john" in run.stdout
