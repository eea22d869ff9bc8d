"""Which base images a Dockerfile's FROM lines name (tasks.dockerfiles.base_images)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.dsl.dockerfiles import base_images, copies_whole_context
from tasks.errors import Where


def bases(tmp_path: Path, text: str, build_args: dict[str, str] | None = None) -> tuple[str, ...]:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return base_images(path, build_args or {})


def test_plain_from(tmp_path):
    assert bases(tmp_path, "FROM python:3.11-slim\nRUN true\n") == ("python:3.11-slim",)


def test_arg_default(tmp_path):
    text = "ARG BASE=127.0.0.1:5000/ac295/base:bookworm\nFROM ${BASE}\n"
    assert bases(tmp_path, text) == ("127.0.0.1:5000/ac295/base:bookworm",)


def test_quoted_arg_default_and_dollar_form(tmp_path):
    assert bases(tmp_path, 'ARG BASE="debian:12"\nFROM $BASE\n') == ("debian:12",)


def test_arg_inside_a_reference(tmp_path):
    assert bases(tmp_path, "ARG V=3.11\nFROM python:${V}-slim\n") == ("python:3.11-slim",)


def test_build_arg_overrides_default(tmp_path):
    text = "ARG BASE=debian:12\nFROM ${BASE}\n"
    assert bases(tmp_path, text, {"BASE": "my/base:2"}) == ("my/base:2",)


def test_build_arg_fills_arg_without_default(tmp_path):
    assert bases(tmp_path, "ARG BASE\nFROM ${BASE}\n", {"BASE": "my/base:2"}) == ("my/base:2",)


def test_undeclared_build_arg_is_not_used(tmp_path):
    # docker build only substitutes ARGs declared before the first FROM.
    assert bases(tmp_path, "FROM ${BASE:-debian:12}\n", {"BASE": "my/base:2"}) == ("debian:12",)


def test_default_in_reference_when_unset(tmp_path):
    assert bases(tmp_path, "ARG BASE\nFROM ${BASE:-debian:12}\n") == ("debian:12",)


def test_empty_reference_is_left_out(tmp_path):
    assert bases(tmp_path, "ARG BASE\nFROM ${BASE}\n") == ()


def test_arg_after_first_from_does_not_reach_later_from(tmp_path):
    text = "FROM a:1\nARG X=b:1\nFROM ${X:-c:1}\n"
    assert bases(tmp_path, text) == ("a:1", "c:1")


def test_multi_stage_excludes_stage_names(tmp_path):
    text = ("FROM golang:1.22 AS build\nRUN go build\n"
            "FROM debian:12 as Runtime\n"
            "FROM build\nCOPY --from=build /x /x\n"
            "FROM runtime\n")
    assert bases(tmp_path, text) == ("golang:1.22", "debian:12")


def test_duplicates_are_listed_once_in_order(tmp_path):
    text = "FROM b:1\nFROM a:1\nFROM b:1\n"
    assert bases(tmp_path, text) == ("b:1", "a:1")


@pytest.mark.parametrize("scratch", ["scratch", "SCRATCH"])
def test_scratch_is_excluded(tmp_path, scratch):
    assert bases(tmp_path, f"FROM {scratch}\nADD rootfs.tar /\nFROM debian:12\n") == \
        ("debian:12",)


def test_platform_flag(tmp_path):
    text = "FROM --platform=linux/amd64 python:3.11 AS build\nFROM --platform=$TARGET build\n"
    assert bases(tmp_path, text) == ("python:3.11",)


def test_lowercase_instructions_and_extra_spaces(tmp_path):
    assert bases(tmp_path, "arg B=debian:12\n  from   ${B}   as   x\n") == ("debian:12",)


def test_line_continuation(tmp_path):
    text = "ARG BASE=\\\n  debian:12\nFROM \\\n    ${BASE} \\\n    AS build\nFROM build\n"
    assert bases(tmp_path, text) == ("debian:12",)


def test_comments_are_ignored(tmp_path):
    text = ("# syntax=docker/dockerfile:1\n"
            "# FROM commented:1\n"
            "   # FROM indented-comment:1\n"
            "FROM debian:12\n")
    assert bases(tmp_path, text) == ("debian:12",)


# --- corners where a naive reader differs from docker build ---------------------------------

def test_comment_inside_continuation(tmp_path):
    text = "FROM \\\n# the base\n    python:3.11 AS build\nFROM build\n"
    assert bases(tmp_path, text) == ("python:3.11",)


def test_empty_line_inside_continuation(tmp_path):
    assert bases(tmp_path, "FROM \\\n\n    python:3.11\n") == ("python:3.11",)


def test_tab_after_instruction(tmp_path):
    assert bases(tmp_path, "ARG\tB=debian:12\nFROM\t${B}\n") == ("debian:12",)


def test_several_args_in_one_instruction(tmp_path):
    assert bases(tmp_path, "ARG A=a:1 B=b:1\nFROM $A\nFROM $B\n") == ("a:1", "b:1")


def test_single_quoted_arg_default(tmp_path):
    assert bases(tmp_path, "ARG B='debian:12'\nFROM $B\n") == ("debian:12",)


# --- COPY --from: an image the build reads --------------------------------------------------

def test_copy_from_an_image_is_read(tmp_path):
    text = ("FROM a:1 AS build\nRUN make\nFROM b:1\nCOPY --from=build /out /out\n"
            "COPY --chown=0:0 --from=127.0.0.1:5000/me/tools:2 /bin/x /bin/x\n"
            "COPY --from=0 /y /y\nCOPY --from=b:1 /z /z\n")
    assert bases(tmp_path, text) == ("a:1", "b:1", "127.0.0.1:5000/me/tools:2")


def test_copy_without_from_reads_no_image(tmp_path):
    assert bases(tmp_path, "FROM a:1\nCOPY . /app\nADD x.tar /\n") == ("a:1",)


@pytest.mark.parametrize("text, whole", [
    ("FROM a\nCOPY . /app\n", True),
    ("FROM a\nCOPY ./ /app/\n", True),
    ("FROM a\nADD *.py /app/\n", True),
    ("FROM a\nCOPY --chown=1:1 src/ q.py /app/\n", False),
    ("FROM a\nCOPY Question.py /app/Question.py\n", False),
    ("FROM a\nCOPY --from=b . /app\n", False),  # another image's files, not the context's
])
def test_copies_whole_context(tmp_path, text, whole):
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    assert copies_whole_context(path) is whole


@pytest.mark.parametrize("text, says", [("", "line (it is empty)"), ("\n# nothing yet\n", "line."),
                                        ("RUN true\n", "line.")])
def test_a_dockerfile_without_from_is_a_spec_error_at_line_1(tmp_path, text, says):
    from tasks.errors import SpecError
    with pytest.raises(SpecError) as info:
        bases(tmp_path, text)
    assert info.value.where == Where(tmp_path / "Dockerfile", 1)
    assert f"the Dockerfile has no FROM {says}" in str(info.value)
    assert "FROM ${BASE_IMAGE}" in str(info.value) and "output is above" not in str(info.value)
