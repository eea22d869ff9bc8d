"""`doit -n 2`: workers are processes (doit's default for -n), services and networks included.

(Every exercise but the three heaviest, ``HEAVY``: each would be made twice more here.)

The whole graph run with two processes gives the results a serial run gave, and leaves no
container or network behind; so does a one-shot run on a network beside a service, the case
where each worker used to tear down what the other still needed.
"""
from __future__ import annotations

from clones import leftovers, networks_left

NETPROBE = """\
doc: a one-shot run on a network beside a service
steps:
  image: {build: ., tag: "{local_prefix}netprobe:1", args: {BASE_IMAGE: "{base_image}"}}
  net: {network: "{local_prefix}probeNet"}
  web:
    run: image
    detach: true
    network: net
    aliases: [web]
    command: [python3, -u, -m, http.server, "8000"]
    ready: {log: "Serving HTTP"}
  probe:
    run: image
    network: net
    command: [python3, -c, "import urllib.request as u; print(u.urlopen('http://web:8000/').status)"]
    expect: {stdout: ["^200$"]}
    after: [web]
"""


#: Not run here: minutes of qemu under TCG, benchmarks and a second Debian release with pandas
#: (the serial and the parallel run would each make them); nothing else reads them.
HEAVY = {"compare", "crossos", "vm"}


def _exercises(project) -> list[str]:
    return sorted(p.parent.name for p in (project.root / "exercises").glob("*/exercise.yml")
                  if p.parent.name not in HEAVY)


def _results(project, exercises: list[str]) -> dict[str, dict]:
    """Every record (what each step made, by content) of ``exercises`` in the copy.

    A grade records the registry's digest of a student's image, which names the manifest's
    bytes: the project's own push of an image built again has the same content but another
    build time, so that digest is left out; the grade itself is compared.
    """
    found = {}
    for path in sorted((project.state / "records").glob("*/*.json")):
        task = f"{path.parent.name}:{path.stem}"
        # (records of an exercise another test wrote and removed are not this run's)
        if not path.name.endswith(".cache.json") and path.parent.name in exercises:
            record = project.record(task) or {}
            if path.parent.name == "grade":
                record.pop("digest", None)
            found[task] = record
    return found


def test_two_processes_give_the_serial_results_and_leave_nothing(project, engine) -> None:
    folder = project.root / "exercises/netprobe"
    folder.mkdir(exist_ok=True)
    (folder / "exercise.yml").write_text(NETPROBE)
    (folder / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    try:
        exercises = _exercises(project)
        assert {"netprobe", "base", "exercise2", "demo2", "lxc", "compose"} <= set(exercises)
        project.doit(*exercises)  # serial
        serial = _results(project, exercises)
        for path in list((project.state / "records").glob("*/*.json")) + \
                list((project.state / "local").glob("*/*.json")):
            # the base's tarball stays made (its cache); the heavy exercises stay as they are
            if not path.name.endswith(".cache.json") and path.parent.name in exercises:
                path.unlink()
        project.doit("forget", *exercises)
        run = project.doit("-n", "2", "reuse=no", *exercises)  # every image made again
        out = run.stdout + run.stderr
        assert "Traceback" not in out and "AssertionError" not in out
        assert {"netprobe:probe", "exercise2:image", "demo2:server"} <= set(run.executed)
        assert _results(project, exercises) == serial
        assert leftovers(engine, project) == [] and networks_left(engine, project) == []
        again = project.doit("-n", "2", "-P", "thread", "netprobe", "demo2")
        assert "netprobe:probe" in again.executed
        assert leftovers(engine, project) == [] and networks_left(engine, project) == []
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
