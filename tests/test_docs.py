"""The docs stay true: every YAML example loads, the README stays short and self-contained."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import (EXAMPLE_CONFIG, EXAMPLE_FILES, KINDS_PAGE, YAML_BLOCK, kind_examples,
                     load, write_project)
from tasks.dsl import config
from tasks.kinds import KINDS
from tasks.names import PROJECT_COMMANDS, PROJECT_TASKS

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FILES = EXAMPLE_FILES
CONFIG = EXAMPLE_CONFIG
BLOCK = YAML_BLOCK


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


def missing_kind_sections(text: str, kinds=KINDS) -> list[str]:
    """The written kinds with no section (or no YAML example holding a step of the kind)."""
    examples = kind_examples(text)
    return [kind.name for kind in kinds.written() if not examples.get(kind.name)]


def test_every_step_kind_has_a_section_with_an_example():
    missing = missing_kind_sections(KINDS_PAGE.read_text())
    assert not missing, (f"{KINDS_PAGE.name} has no section for the step kind(s) {missing}: add "
                         "a '### `<kind>`: <what it does>' heading with a ```yaml example")


def test_the_section_check_fails_when_a_section_is_removed():
    text = KINDS_PAGE.read_text()
    start = text.index("### `save`")
    end = text.index("### ", start + 4)
    assert missing_kind_sections(text[:start] + text[end:]) == ["save"]


@pytest.mark.parametrize("kind", [k.name for k in KINDS.written()])
def test_each_kind_section_shows_a_step_of_its_kind(tmp_path, kind):
    blocks = kind_examples().get(kind, [])
    assert blocks, f"no section for {kind}"
    kinds_shown = set()
    for n, block in enumerate(blocks):
        files = {f"exercises/ex{n}/{rel}": body for rel, body in FILES.items()}
        root = write_project(tmp_path / str(n), {**files, f"exercises/ex{n}/exercise.yml": block},
                             CONFIG)
        kinds_shown |= {s.kind for s in load(root)[f"ex{n}"].steps.values()}
    assert kind in kinds_shown


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


@pytest.mark.parametrize("name", sorted(PROJECT_COMMANDS | PROJECT_TASKS))
def test_every_project_command_is_in_the_docs(name):
    text = "\n".join(page.read_text() for page in PAGES)
    assert re.search(rf"(script/)?doit {re.escape(name)}\b", text), \
        f"`script/doit {name}` appears in neither README.md nor docs/"
