"""Containers and networks made for `doit shell`: names, labels, limits, and their removal."""
from __future__ import annotations

import os
import pwd
import subprocess
from unittest import mock

import docker.errors
import pytest
from docker.models.containers import ContainerCollection
from docker.models.networks import NetworkCollection
from docker.models.volumes import VolumeCollection

from helpers import fake_engine
from tasks.engine import garbage, shells
from tasks.engine.client import LABEL_PROJECT, LABEL_TASK
from tasks.engine.options import ContainerOptions, Health, Mount
from tasks.engine.shells import LABEL_SHELL, SHELL, Box

PROJECT = "/p/.ac295"


def dead_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("prefix, task, what, name", [
    ("", "exercise2:question", "shell", "exercise2-question-shell-7"),
    ("shl-", "exercise2:question", "shell", "shl-exercise2-question-shell-7"),
    ("shl-", "shl-helloNetwork", "shell", "shl-helloNetwork-shell-7"),  # no second prefix
    ("", "ex:st ep/ü", "shell", "ex-st-ep-shell-7"),
    ("-", "ex:s", "shell", "ex-s-shell-7"),  # Docker's names start with a letter or digit
])
def test_names_carry_the_prefix_in_dockers_characters(prefix, task, what, name):
    assert shells.name_for(prefix, task, what, pid=7) == name


@pytest.mark.parametrize("task, failed, hostname", [
    ("exercise2:question", False, "exercise2-question"),
    ("exercise2:question", True, "failed-exercise2-question"),
    ("grade:check.maggie", False, "grade-check-maggie"),
    ("Ex_1:Step", False, "ex-1-step"),
    ("x:" + "a" * 100, False, "x-" + "a" * 61),
])
def test_the_prompt_says_where_you_are(task, failed, hostname):
    assert shells.hostname_for(task, failed) == hostname


def test_alive_only_for_a_running_shell_process():
    assert shells.alive({LABEL_SHELL: str(os.getpid())})
    assert not shells.alive({LABEL_SHELL: str(dead_pid())})
    assert not shells.alive({LABEL_SHELL: "not a pid"})
    assert not shells.alive({})
    assert not shells.alive(None)


def test_a_shell_box_replaces_entrypoint_and_command_with_a_shell():
    kwargs = shells.create_kwargs(Box(image="sha256:i", name="n", hostname="h", env={"A": "1"}),
                                  {LABEL_TASK: "ex:q"})
    assert kwargs == {"name": "n", "hostname": "h", "environment": {"A": "1"},
                      "labels": {LABEL_TASK: "ex:q"}, "tty": True, "stdin_open": True,
                      "detach": True, "privileged": False, "mem_limit": "2g",
                      "pids_limit": 1024, "entrypoint": SHELL[:1], "command": SHELL[1:]}


def test_a_command_box_keeps_the_entrypoint_and_runs_the_command_or_the_images():
    own = shells.create_kwargs(Box("i", "n", "h", shell=False, command=["python3", "q.py"],
                                   network="net", ports={"8080": "18080", "53/udp": "1053"}),
                               {})
    assert own["command"] == ["python3", "q.py"] and "entrypoint" not in own
    assert own["network"] == "net"
    assert own["ports"] == {"8080/tcp": ("127.0.0.1", 18080), "53/udp": ("127.0.0.1", 1053)}
    image = shells.create_kwargs(Box("i", "n", "h", shell=False), {})
    assert "command" not in image and "entrypoint" not in image


def shell_engine() -> tuple[object, mock.Mock]:
    engine, client = fake_engine([], PROJECT)
    client.containers = mock.Mock(spec=ContainerCollection)
    client.containers.create.return_value = mock.Mock(id="made")
    client.networks = mock.Mock(spec=NetworkCollection)
    client.networks.create.return_value = mock.Mock(id="net-id")
    client.volumes = mock.Mock(spec=VolumeCollection)
    client.volumes.list.return_value = []
    return engine, client


def test_the_container_is_attached_by_the_cli_and_removed_at_the_end(monkeypatch):
    monkeypatch.setattr(shells.shutil, "which", lambda name: f"/usr/bin/{name}")
    engine, client = shell_engine()
    with shells.container(engine, Box("sha256:i", "n", "h"), {}) as argv:
        assert argv == ["/usr/bin/docker", "start", "--attach", "--interactive", "made"]
        client.api.remove_container.assert_not_called()
    client.api.remove_container.assert_called_once_with("made", force=True)


def test_the_container_is_removed_when_the_session_fails(monkeypatch):
    monkeypatch.setattr(shells.shutil, "which", lambda name: f"/usr/bin/{name}")
    engine, client = shell_engine()
    with pytest.raises(KeyboardInterrupt):
        with shells.container(engine, Box("sha256:i", "n", "h", network="net",
                                          aliases=("db",)), {}):
            raise KeyboardInterrupt
    client.api.remove_container.assert_called_once_with("made", force=True)
    client.api.create_endpoint_config.assert_called_once_with(aliases=["db"])


def test_no_docker_command_is_said_before_anything_is_made(monkeypatch):
    monkeypatch.setattr(shells.shutil, "which", lambda name: None)
    engine, client = shell_engine()
    with pytest.raises(Exception, match="`docker` command, which is missing"):
        with shells.container(engine, Box("sha256:i", "n", "h"), {}):
            pass
    client.containers.create.assert_not_called()


def test_a_shell_keeps_the_steps_options_but_its_health_check():
    options = ContainerOptions(entrypoint=("python3",), working_dir="/srv", user="1000",
                               mounts=(Mount("x-data-shell-7", "/data"),),
                               health=Health(test=("CMD", "true")))
    shell = shells.create_kwargs(Box("i", "n", "h", options=options), {})
    assert (shell["working_dir"], shell["user"]) == ("/srv", "1000")
    assert shell["entrypoint"] == SHELL[:1] and "healthcheck" not in shell
    assert [(m["Source"], m["Target"]) for m in shell["mounts"]] == [("x-data-shell-7", "/data")]
    own = shells.create_kwargs(Box("i", "n", "h", shell=False, command=["-m", "x"],
                                   options=options), {})
    assert own["entrypoint"] == ["python3"] and own["command"] == ["-m", "x"]


def test_a_volume_of_the_shells_own_is_removed_at_the_end():
    engine, client = shell_engine()
    with shells.volume(engine, "x-data-shell-7", {LABEL_SHELL: "7"}) as name:
        assert name == "x-data-shell-7"
        client.api.remove_volume.assert_not_called()
    client.volumes.create.assert_called_once_with("x-data-shell-7", labels={LABEL_SHELL: "7"})
    client.api.remove_volume.assert_called_once_with("x-data-shell-7", force=True)


def test_a_network_of_the_shells_own_is_removed_at_the_end():
    engine, client = shell_engine()
    with shells.network(engine, "x-net-shell-7", {LABEL_SHELL: "7"}) as name:
        assert name == "x-net-shell-7"
    assert client.networks.create.call_args.kwargs == {"driver": "bridge",
                                                       "labels": {LABEL_SHELL: "7"}}
    client.api.remove_network.assert_called_once_with("net-id")


@pytest.mark.parametrize("state, labels, expected", [
    ({"Running": True}, {LABEL_PROJECT: PROJECT, LABEL_TASK: "ex:db"}, True),
    ({"Running": False}, {LABEL_PROJECT: PROJECT, LABEL_TASK: "ex:db"}, False),
    ({"Running": True}, {LABEL_PROJECT: "/other/.ac295", LABEL_TASK: "ex:db"}, False),
    ({"Running": True}, {LABEL_PROJECT: PROJECT, LABEL_TASK: "ex:other"}, False),
])
def test_a_service_runs_only_if_it_is_this_copys_and_this_steps(state, labels, expected):
    engine, client = shell_engine()
    client.api.inspect_container.return_value = {"State": state, "Config": {"Labels": labels}}
    assert shells.running(engine, "ex-db", "ex:db") is expected


def test_no_such_service_container_is_not_running():
    engine, client = shell_engine()
    client.api.inspect_container.side_effect = docker.errors.NotFound("no such container")
    assert shells.running(engine, "ex-db", "ex:db") is False


def test_only_what_killed_shells_left_is_swept():
    engine, client = shell_engine()
    live = mock.Mock(id="live", labels={LABEL_SHELL: str(os.getpid())})
    left = mock.Mock(id="left", labels={LABEL_SHELL: str(dead_pid())})
    net = mock.Mock(id="n-left", attrs={"Labels": {LABEL_SHELL: str(dead_pid())}})
    vol = mock.Mock(attrs={"Labels": {LABEL_SHELL: str(dead_pid())}})
    vol.name = "v-left"
    client.containers.list.return_value = [live, left]
    client.networks.list.return_value = [net]
    client.volumes.list.return_value = [vol]
    lines: list[str] = []
    assert shells.sweep_dead(engine, lines.append) == 3
    client.api.remove_volume.assert_called_once_with("v-left", force=True)
    assert [c.args[0] for c in client.api.remove_container.call_args_list] == ["left"]
    client.api.remove_network.assert_called_once_with("n-left")
    assert sorted(client.containers.list.call_args.kwargs["filters"]["label"]) == \
        sorted([LABEL_SHELL, f"{LABEL_PROJECT}={PROJECT}"])


def test_prune_leaves_an_open_shell_and_takes_a_killed_ones():
    engine, client = shell_engine()
    client.containers.list.return_value = [
        mock.Mock(id="1", labels={LABEL_SHELL: str(os.getpid()), LABEL_TASK: "ex:q"}),
        mock.Mock(id="2", labels={LABEL_SHELL: str(dead_pid()), LABEL_TASK: "ex:q"}),
        mock.Mock(id="3", labels={LABEL_TASK: "ex:q"})]
    client.networks.list.return_value = [
        mock.Mock(id="n1", attrs={"Labels": {LABEL_SHELL: str(os.getpid())}}),
        mock.Mock(id="n2", attrs={"Labels": {}})]
    assert [g.ident for g in garbage.leftover_containers(engine)] == ["2", "3"]
    assert [g.ident for g in garbage.stale_networks(engine)] == ["n2"]


def test_exec_opens_a_shell_or_the_command_in_the_running_container(monkeypatch):
    monkeypatch.setattr(shells.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert shells.exec_argv("ex-db") == ["/usr/bin/docker", "exec", "--interactive", "--tty",
                                         "ex-db", *SHELL]
    assert shells.exec_argv("ex-db", ["top"])[-1] == "top"


def test_a_rootless_shell_runs_podman_as_the_user_with_no_network(monkeypatch):
    monkeypatch.setenv("TERM", "screen")
    user = pwd.struct_passwd(("rl", "x", 1001, 1001, "", "/home/rl", "/usr/sbin/nologin"))
    argv = shells.rootless_argv(user, "sha256:i", "x-ex-q-shell-7", "ex-q",
                                {LABEL_TASK: "ex:q"}, {"A": "1"}, ["id"], shell=True)
    assert argv[:3] == ["env", "-i", "-C"] and argv[3] == "/home/rl"
    assert "HOME=/home/rl" in argv and "TERM=screen" in argv
    assert "XDG_RUNTIME_DIR=/run/user/1001" in argv
    at = argv.index("runuser")
    assert argv[at:at + 4] == ["runuser", "-u", "rl", "--"]
    assert argv[argv.index("run"):argv.index("run") + 4] == ["run", "--rm", "--interactive",
                                                             "--tty"]
    assert argv[argv.index("--network") + 1] == "none"
    assert argv[argv.index("--label") + 1] == f"{LABEL_TASK}=ex:q"
    assert argv[argv.index("--env") + 1] == "A=1"
    assert argv[-4:] == ["--entrypoint", SHELL[0], "sha256:i", *SHELL[1:]][-4:]
    own = shells.rootless_argv(user, "sha256:i", "n", "h", {}, {}, ["id", "-u"], shell=False)
    assert own[-3:] == ["sha256:i", "id", "-u"] and "--entrypoint" not in own
