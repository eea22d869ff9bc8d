"""Fuzzed compose files: hypothesis mutates the compose exercise's docker-compose.yml; any
outcome other than a clean load or one SpecError paragraph (naming a file of the exercise)
counts as a failure, and a broken file never stops the project's other exercises."""
from __future__ import annotations

import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import ROOT, load_config
from tasks import project

FOLDER = ROOT / "exercises" / "compose"
LINES = (FOLDER / "docker-compose.yml").read_text().splitlines()
SCALARS = ["[]", "{}", "1", "-3", "true", "null", "~", '"${NOPE}"', '"$"', "'${BASE_IMAGE'",
           "../..", "/etc", "'0.0.0.0:1:2'", "[a, [b]]", "{a: {b: c}}", "1e9", '"é\\u0000"',
           "host", "'/data'", "'./seed:/seed'", "'x:y:z:w'", "'65536:80'", "[CMD]",
           "{condition: service_healthy}", "{replicas: 3}", "{external: true}", "x" * 300]
KEYS = ["privileged", "network_mode", "deploy", "restart", "volumes", "ports", "networks",
        "depends_on", "healthcheck", "build", "image", "env_file", "environment", "user",
        "entrypoint", "command", "working_dir", "container_name", "secrets", "x-ok", "bogus"]


@st.composite
def mutations(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "scalar", "key", "indent", "swap"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "scalar" and ":" in lines[i]:
            lines[i] = f"{lines[i].split(':', 1)[0]}: {draw(st.sampled_from(SCALARS))}"
        elif op == "key":
            indent = " " * draw(st.sampled_from([0, 2, 4, 6]))
            lines.insert(i, f"{indent}{draw(st.sampled_from(KEYS))}: "
                         f"{draw(st.sampled_from(SCALARS))}")
        elif op == "indent":
            lines[i] = (" " * draw(st.sampled_from([0, 2, 4, 6]))) + lines[i].lstrip()
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        if not lines:
            break
    return "\n".join(lines) + "\n"


def test_a_mutated_compose_file_loads_or_is_one_paragraph(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    for name in ("ac295.yml",):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(FOLDER, root / "exercises" / "compose")
    shutil.copytree(ROOT / "exercises" / "demo2", root / "exercises" / "demo2")
    target = root / "exercises" / "compose" / "docker-compose.yml"
    folder = (root / "exercises" / "compose").resolve()
    outcomes = {"loaded": 0, "refused": 0}

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutations())
    def check(text: str) -> None:
        target.write_text(text)
        good, broken, _ = project.load_isolated(load_config(root, {}))
        assert "demo2" in [e.name for e in good]  # the other exercise keeps working
        if "compose" in broken:
            message = str(broken["compose"])
            assert "\n" not in message and "Traceback" not in message
            file = Path(message.split(":", 1)[0]).resolve()
            assert file.is_relative_to(folder), message
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1

    check()
    assert outcomes["refused"] > 10  # the mutations reached the reader's checks
