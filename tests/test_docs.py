"""The docs stay true: every YAML example loads, the README stays short and self-contained."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import load, write_project
from tasks.dsl import config

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
# The files the examples name, as an exercise folder would hold them.
FILES = {
    "Dockerfile": "FROM scratch\n",
    "db/Dockerfile": "FROM scratch\n",
    "server/Dockerfile": "FROM scratch\n",
    "image/Dockerfile": "FROM scratch\n",
    "environment.yml": "name: env\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n"
                       "    - six==1.16.0\n",
    "requirements.txt": "six==1.16.0\n",
    "make-data.sh": "#!/bin/sh\n",
    "make-rootfs.sh": "#!/bin/sh\n",
    "time-it.sh": "#!/bin/sh\n",
    "probe.py": "",
}
CONFIG = ("variables:\n  registry: 127.0.0.1:5000\n  hub_user: me\n  student: s\n"
          "  base_image: python:3.11-slim\n  local_prefix: ''\n")


def examples() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for n, match in enumerate(BLOCK.finditer(page.read_text()), 1):
            found.append((f"{page.relative_to(ROOT)}#{n}", match.group(1)))
    return found


EXAMPLES = examples()


def test_the_docs_hold_examples():
    assert len([e for e in EXAMPLES if "steps:" in e[1]]) >= 5


@pytest.mark.parametrize("text", [t for _, t in EXAMPLES],
                         ids=[name for name, _ in EXAMPLES])
def test_every_yaml_example_loads(tmp_path, text):
    if "steps:" in text:  # an exercise.yml
        files = {f"exercises/ex/{rel}": body for rel, body in FILES.items()}
        root = write_project(tmp_path, {**files, "exercises/ex/exercise.yml": text}, CONFIG)
        exercise = load(root)["ex"]
        assert exercise.steps
    else:  # an ac295.yml
        root = write_project(tmp_path, {}, text)
        assert config.load(root, environ={}).variables["registry"]


def test_readme_is_short_and_starts_quickly():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 6 * 1024
    assert "## Quick start" in readme


@pytest.mark.parametrize("page", PAGES + [ROOT / "requirements.txt"],
                         ids=lambda p: p.name)
def test_no_reference_outside_the_project(page):
    text = page.read_text()
    assert "STYLE.md" not in text and "DESIGN.md" not in text
    assert not re.search(r"\bissue \d+\b", text, re.IGNORECASE)
    for link in re.findall(r"\]\(([^)#]+)", text):  # relative links point at real files
        if "://" not in link:
            assert (page.parent / link).exists(), link
