"""Services on the real engine: local names carry the copy's prefix, and a published port that
something else holds is named with the step, its `ports:` line and the holder."""
from __future__ import annotations

import shutil
import socket
import textwrap

import pytest

from clones import free_port
from helpers import line_of

DOCKERFILE = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nWORKDIR /srv\nRUN echo hello > index.html\n"


def _exercise(project, body: str) -> None:
    folder = project.root / "exercises/svcmsg"
    folder.mkdir(exist_ok=True)
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "exercise.yml").write_text(textwrap.dedent("""\
        doc: services whose names and ports are checked
        steps:
          image: {build: ., tag: "{local_prefix}svcmsg:1", args: {BASE_IMAGE: "{base_image}"}}
        """) + textwrap.indent(textwrap.dedent(body), "  "))


@pytest.fixture
def svcmsg(project):
    yield project
    shutil.rmtree(project.root / "exercises/svcmsg", ignore_errors=True)


def test_default_names_carry_the_prefix_and_the_written_name_still_resolves(svcmsg, engine):
    _exercise(svcmsg, """\
          net: {network: svcnet}
          web:
            run: image
            detach: true
            network: net
            command: [python3, -u, -m, http.server, "8000"]
            ready: {log: "Serving HTTP", timeout: 60}
          names:
            sh: docker ps --format '{{{{.Names}}}}' > {state}/svcmsg-names.txt  # {{ is one {
            after: [web]
          probe:
            run: image
            network: net
            command: [python3, -c, "import urllib.request as u; print(u.urlopen('http://svcmsg-web:8000/').read().decode())"]
            expect: {stdout: ["^hello$"]}
            after: [web]
        """)
    svcmsg.doit("svcmsg")
    names = (svcmsg.state / "svcmsg-names.txt").read_text().split()
    assert f"{svcmsg.prefix}svcmsg-web" in names and "svcmsg-web" not in names
    assert not [n for n in engine.networks.list() if n.name == "svcnet"]


def test_a_port_held_by_a_program_names_the_step_and_its_line(svcmsg):
    port = free_port()
    _exercise(svcmsg, f"""\
          web:
            run: image
            detach: true
            command: [python3, -m, http.server, "8000"]
            ports: {{"8000": "{port}"}}
        """)
    spec = svcmsg.root / "exercises/svcmsg/exercise.yml"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        run = svcmsg.doit("svcmsg", check=False)
    out = run.stdout + run.stderr
    assert run.returncode == 1
    assert (f"svcmsg:web: cannot publish the service on 127.0.0.1:{port} ('ports:' at "
            f"{spec}:{line_of(spec, 'ports:')}): the port is taken; another program on this "
            "machine listens there") in out, out
    assert "Traceback" not in out and "address already in use" not in out


def test_a_port_held_by_a_container_names_it(svcmsg, engine):
    port = free_port()
    _exercise(svcmsg, f"""\
          web:
            run: image
            detach: true
            command: [python3, -m, http.server, "8000"]
            ports: {{"8000": "{port}"}}
        """)
    svcmsg.doit("svcmsg:image")
    from tasks.engine.client import LABEL_PROJECT
    other = engine.containers.run(f"{svcmsg.prefix}svcmsg:1", ["sleep", "300"], detach=True,
                                  name=f"{svcmsg.prefix}holder", ports={"9000/tcp": (
                                      "127.0.0.1", port)},
                                  labels={LABEL_PROJECT: str(svcmsg.state.resolve())})
    try:
        run = svcmsg.doit("svcmsg", check=False)
    finally:
        other.remove(force=True)
    out = run.stdout + run.stderr
    assert run.returncode == 1
    assert (f"cannot publish the service on 127.0.0.1:{port} ('ports:' at ") in out
    assert f"the port is taken; the container {svcmsg.prefix}holder publishes it" in out, out
    assert not [c for c in engine.containers.list(all=True)
                if c.name == f"{svcmsg.prefix}svcmsg-web"]  # nothing left behind
