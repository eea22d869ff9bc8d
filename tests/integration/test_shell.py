"""`script/doit shell` through a pseudo-terminal, for each kind, on the real engine, podman and
qemu: type a command, read its output, exit with a code; then nothing made for the shell is
left (containers, networks, podman containers, VMs). Failures keep their state: the error's
last line opens it, and there the broken file is.

The oracle is the environment itself, read by commands typed into it (`cat`, `hostname`,
`getent`, /proc), and plain docker and podman asked afterwards; never the project's code.
"""
from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import docker
import pexpect
import pytest

from clones import Project, leftovers, networks_left
from tasks.engine import rootless

MARK = "END$((40+2))"  # typed; the shell prints END42 (the echo of the line does not match)
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")  # bash's bracketed paste


class Shell:
    """One `script/doit shell` on a pseudo-terminal."""

    def __init__(self, project: Project, task: str, *options: str, timeout: float = 180):
        self.child = pexpect.spawn(str(project.root / "script/doit"), ["shell", task, *options],
                                   cwd=str(project.root), env=project.env, encoding="utf-8",
                                   timeout=timeout, dimensions=(30, 120))
        self.child.expect(r"ac295: (.*)\. `exit` ends it")
        self.what = self.child.match.group(1)
        self.child.expect(r"[#$] ")  # its prompt: a VM's console drops what is typed earlier
        self.type("true")  # the shell reads what is typed: it is up

    def type(self, line: str) -> str:
        """Type a command line; what it printed."""
        self.child.sendline(f"{line}; echo {MARK}")
        self.child.expect(r"END42\r*\n")
        printed = ESCAPES.sub("", self.child.before.replace("\r", ""))
        return printed.split(f"{MARK}\n", 1)[-1] if MARK in printed else printed

    def exit(self, code: int = 7) -> int:
        """Leave the shell with ``code``; `script/doit shell`'s own exit code."""
        self.child.sendline(f"exit {code}")
        self.child.expect(pexpect.EOF, timeout=120)
        self.child.close()
        assert self.child.exitstatus is not None, self.child.signalstatus
        return self.child.exitstatus


def said(project: Project, task: str, *options: str) -> tuple[int, str]:
    """A `script/doit shell` that opens nothing: its exit code and what it said."""
    child = pexpect.spawn(str(project.root / "script/doit"), ["shell", task, *options],
                          cwd=str(project.root), env=project.env, encoding="utf-8", timeout=120)
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before.replace("\r", "")


def podman_containers() -> list[str]:
    found = rootless.podman(rootless.USER, ["ps", "--all", "--format", "{{.Names}}"],
                            check=False)
    return found.stdout.split()


def vms_of(project: Project) -> list[str]:
    found = subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if str(project.state) in line]


def assert_nothing_left(project: Project, engine: docker.DockerClient) -> None:
    assert leftovers(engine, project) == []
    assert networks_left(engine, project) == []
    assert engine.volumes.list(filters={
        "label": f"org.ac295.project={project.state.resolve()}"}) == []
    assert vms_of(project) == []
    assert [n for n in podman_containers() if n.startswith(project.prefix)] == []


def evidence_of(engine: docker.DockerClient, project: Project, task: str) -> list:
    return engine.images.list(filters={"label": [
        "org.ac295.failed", f"org.ac295.project={project.state.resolve()}",
        f"org.ac295.task={task}"]})


# --- image steps --------------------------------------------------------------------

def test_exercise1s_look_around_is_a_shell_in_the_pulled_image(project, engine):
    """The lecture's `docker run -it ... bash`, as the README's quick start says it."""
    project.doit("exercise1:upstream")
    shell = Shell(project, "exercise1:upstream")
    assert "a new container of exercise1:upstream's image" in shell.what
    assert "Question.py" in shell.type("ls /app").split()
    assert shell.type("pwd").strip() == "/app"  # the image's working folder
    assert shell.type("hostname").strip() == "exercise1-upstream"
    assert shell.exit(7) == 7
    assert_nothing_left(project, engine)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "script/doit shell exercise1:upstream" in readme


def test_a_built_image_runs_its_own_command_with_c(project, engine):
    project.doit("exercise2:image")
    child = pexpect.spawn(str(project.root / "script/doit"), ["shell", "exercise2:image", "-c"],
                          cwd=str(project.root), env=project.env, encoding="utf-8", timeout=120)
    child.expect("Answer: 2640")  # the image's CMD, on the terminal
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert_nothing_left(project, engine)


def test_a_committed_and_an_imported_image(project, engine):
    project.doit("exercise1:modify", "base:image")
    shell = Shell(project, "exercise1:modify")
    assert shell.type("cat /app/student.txt").strip() == "maggie"
    assert shell.exit(0) == 0
    shell = Shell(project, "base:image")
    assert shell.type("cat /etc/debian_version").strip().startswith("12")
    assert shell.exit(3) == 3
    assert_nothing_left(project, engine)


# --- failures keep their state ------------------------------------------------------

def test_exercise2_with_a_broken_question_opens_the_failed_container(project, engine):
    question = project.root / "exercises/exercise2/Question.py"
    original = question.read_text()
    question.write_text(original + "\nprint(undefined_name)  # a student's mistake\n")
    try:
        run = project.doit("exercise2", check=False)
        assert run.returncode == 1
        message = run.stdout[run.stdout.index("TaskFailed"):].split("\nnot run: ")[0]
        message = message.split("\nac295: ")[0].strip()
        assert ("not run: exercise2:push (it needs exercise2:question, which did not succeed)"
                in run.stdout)
        assert message.splitlines()[-1] == "script/doit shell exercise2:question"
        assert "NameError" in message
        assert len(evidence_of(engine, project, "exercise2:question")) == 1
        why = project.doit("why", "exercise2:question").stdout
        line = next(x for x in why.splitlines() if x.startswith("exercise2:question"))
        assert "look inside: script/doit shell exercise2:question" in line

        shell = Shell(project, "exercise2:question")
        assert "the state exercise2:question failed in" in shell.what
        assert "print(undefined_name)  # a student's mistake" in \
            shell.type("cat /app/Question.py")
        assert shell.type("hostname").strip() == "failed-exercise2-question"
        assert shell.exit(7) == 7
        assert_nothing_left(project, engine)

        # -c runs the command that failed, on the terminal: the same error, its exit code
        child = pexpect.spawn(str(project.root / "script/doit"),
                              ["shell", "exercise2:question", "-c"], cwd=str(project.root),
                              env=project.env, encoding="utf-8", timeout=120)
        child.expect("NameError: name 'undefined_name' is not defined")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 1

        again = project.doit("exercise2", check=False)  # fails again: still one piece
        assert again.returncode == 1
        assert len(evidence_of(engine, project, "exercise2:question")) == 1
    finally:
        question.write_text(original)
    project.doit("exercise2")  # a run that succeeds removes it
    assert evidence_of(engine, project, "exercise2:question") == []
    assert_nothing_left(project, engine)


DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
WORKDIR /work
RUN echo made-before > /work/before.txt
COPY note.txt /work/note.txt
RUN echo half-done > /work/half.txt && test -e /work/missing.txt
CMD ["cat", "/work/note.txt"]
"""
SPEC = """\
doc: a test's own exercise, for shells
steps:
  image:
    build: .
    tag: "{local_prefix}shelltest:1"
    args: {BASE_IMAGE: "{base_image}"}
  net: {network: "{local_prefix}shellNet"}
  svc:
    run: image
    detach: true
    name: "{local_prefix}shelltest-svc"
    network: net
    aliases: [backend]
    command: [python3, -u, -m, http.server, "8000"]
    ready: {log: "Serving HTTP", timeout: 60}
  data: {volume: "{local_prefix}shellData"}
  probe:
    run: image
    network: net
    env: {WHO: tester}
    volumes: ["data:/data"]
    working_dir: /data
    command: [sh, -c, "echo $WHO"]
    after: [svc]
  slow:
    sh: sleep 25
    after: [probe]
"""


@pytest.fixture
def shelltest(project):
    """An exercise of the test's own in the project copy, removed afterwards."""
    folder = project.root / "exercises/shelltest"
    folder.mkdir()
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "note.txt").write_text("a note\n")
    (folder / "exercise.yml").write_text(SPEC)
    yield folder
    import shutil

    shutil.rmtree(folder)


def test_a_failed_build_keeps_the_last_layer_it_made(project, engine, shelltest):
    run = project.doit("shelltest:image", check=False)
    assert run.returncode == 1
    message = run.stdout[run.stdout.index("TaskFailed"):].split("\nac295: ")[0].strip()
    assert message.splitlines()[-1] == "script/doit shell shelltest:image"
    shell = Shell(project, "shelltest:image")
    assert "RUN echo half-done" in shell.what
    # the state before the failing RUN: what the steps before it made, nothing of its own
    assert shell.type("ls /work").split() == ["before.txt", "note.txt"]
    assert shell.exit(0) == 0
    code, text = said(project, "shelltest:image", "-c")  # the failing RUN, once more
    assert code == 1
    assert_nothing_left(project, engine)
    assert project.doit("prune", "--dry-run").stdout.count(
        f"{project.prefix}ac295-failed:shelltest.image") == 1
    project.doit("prune")
    assert evidence_of(engine, project, "shelltest:image") == []


def test_a_failed_commit_keeps_its_container(project, engine):
    spec = project.root / "exercises/exercise1/exercise.yml"
    original = spec.read_text()
    spec.write_text(original.replace('echo "{student}" > /app/student.txt',
                                     'echo "{student}" > /app/student.txt && false'))
    try:
        run = project.doit("exercise1:modify", check=False)
        assert run.returncode == 1
        shell = Shell(project, "exercise1:modify")
        assert shell.type("cat /app/student.txt").strip() == "maggie"  # what it did first
        assert shell.exit(0) == 0
    finally:
        spec.write_text(original)
    project.doit("exercise1:modify")
    assert evidence_of(engine, project, "exercise1:modify") == []


# --- runs, services, networks ---------------------------------------------------------

def test_a_run_services_and_networks(project, engine, shelltest):
    dockerfile = shelltest / "Dockerfile"
    dockerfile.write_text(DOCKERFILE.replace(" && test -e /work/missing.txt", ""))
    project.doit("shelltest:image")

    # a one-shot run on a network: its env, working folder, a network and a volume of the
    # shell's own
    shell = Shell(project, "shelltest:probe")
    assert "on a network of its own" in shell.what
    assert shell.type("echo $WHO").strip() == "tester"
    assert shell.type("pwd; ls -A /data | wc -l").split() == ["/data", "0"]  # fresh, empty
    assert len([v for v in engine.volumes.list() if "shellData-shell-" in v.name]) == 1
    own = [n.name for n in engine.networks.list() if "shellNet-shell-" in n.name]
    assert len(own) == 1 and own[0].startswith(project.prefix)
    assert shell.exit(0) == 0
    code, _ = said(project, "shelltest:probe", "-c")  # its own command: prints, exits 0
    assert code == 0

    # a service that no run keeps up: started as a run would, its alias on the network
    shell = Shell(project, "shelltest:svc")
    assert "as a run starts it" in shell.what
    assert shell.type("getent hosts backend | wc -l").strip() == "1"
    assert shell.exit(0) == 0
    assert_nothing_left(project, engine)

    # a service that a run keeps up: a shell in that very container
    background = subprocess.Popen([str(project.root / "script/doit"), "shelltest"],
                                  cwd=project.root, env=project.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
    try:
        name = f"{project.prefix}shelltest-svc"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = engine.containers.list(filters={"name": name})
            if found and "Serving HTTP" in found[0].logs().decode():
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the service did not start")
        shell = Shell(project, "shelltest:svc")
        assert "the running service" in shell.what
        assert "http.server" in shell.type("tr '\\0' ' ' < /proc/1/cmdline")
        assert shell.exit(0) == 0
    finally:
        out, _ = background.communicate(timeout=300)
    assert background.returncode == 0, out
    assert_nothing_left(project, engine)


def test_closing_the_terminal_removes_the_container(project, engine):
    shell = Shell(project, "exercise1:upstream")
    assert len(leftovers(engine, project)) == 1
    shell.child.kill(signal.SIGHUP)  # the terminal went away
    shell.child.expect(pexpect.EOF, timeout=60)
    shell.child.close()
    assert shell.child.exitstatus == 128 + signal.SIGHUP
    assert_nothing_left(project, engine)


def test_a_step_with_no_environment_says_which_to_open(project):
    code, text = said(project, "exercise2:push")
    assert code == 1
    assert text.strip().endswith("script/doit shell exercise2:image")


# --- rootless, venv, grade, vm --------------------------------------------------------

def test_a_rootless_run_is_podman_as_the_unprivileged_user(project, engine):
    project.doit("rootless:file")
    shell = Shell(project, "rootless:question")
    assert "podman as ac295-rootless" in shell.what
    inside, outside = shell.type("head -n 1 /proc/self/uid_map").split()[:2]
    assert (inside, outside) == ("0", str(__import__("pwd").getpwnam(rootless.USER).pw_uid))
    assert [n for n in podman_containers() if n.startswith(project.prefix)] != []
    assert shell.exit(7) == 7
    assert [n for n in podman_containers() if n.startswith(project.prefix)] == []
    assert_nothing_left(project, engine)


def test_a_venv_step_is_a_subshell_with_it_active(project):
    project.doit("venv:maggie")
    shell = Shell(project, "venv:maggie")
    venv = shell.type("echo $VIRTUAL_ENV").strip()
    assert venv.endswith("env_ac295") and str(project.state) in venv
    assert shell.type("command -v python").strip() == f"{venv}/bin/python"
    assert shell.type("pwd").strip() == str(project.root / "exercises/venv")
    shell.child.sendintr()  # Ctrl-C reaches the subshell, not `doit shell`
    assert shell.type("echo still here").strip() == "still here"
    assert shell.exit(5) == 5


def test_a_grade_students_shell_is_the_graded_image(project, engine):
    project.doit("exercise2", "grade")
    shell = Shell(project, f"grade:check.{project.hub_user}")
    assert "the image graded for" in shell.what and "@sha256:" in shell.what
    assert "Answer" in shell.type("python3 /app/Question.py")
    assert shell.exit(0) == 0
    code, text = said(project, "grade:check.lena")  # graded "missing": nothing to open
    assert code == 3 and "no image to grade for lena" in text
    assert_nothing_left(project, engine)


def test_a_vm_step_boots_with_a_shell_on_its_console(project, engine):
    project.doit("vm:image", "vm:kernel")
    shell = Shell(project, "vm:question", timeout=300)
    assert "VM" in shell.what and "powered off" in shell.what
    assert shell.type("hostname").strip() == "ac295-vm"
    assert "rdinit=/init" in shell.type("cat /proc/cmdline")  # the guest's own kernel
    assert shell.type("ls /app").split() == ["Question.py"]
    assert shell.exit(7) == 7  # the guest shell's code, though qemu exits 0
    assert_nothing_left(project, engine)
    assert not list(Path("/tmp").glob("ac295-vm-*/shell.cpio"))
