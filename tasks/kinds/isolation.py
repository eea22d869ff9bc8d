"""What a container that runs someone's code may do: the keys ``run:`` and ``grade:`` share.

A one-shot container (a ``run:`` step, a student's check in a ``grade:``) is isolated by
default (``tasks.engine.containers.Isolation``): no network, no capabilities, no new
privileges, a read-only root file system with a 64 MB ``/tmp``, 1 CPU, 2 GB of memory, 256
processes, 1 MB of output per stream. A step asks for more with ``network:`` (a network
step of its exercise), ``writable: true``, or runs as another user with ``user:`` (on a
``run:``, any user, as ``tasks.kinds.container`` reads it; on a ``grade:``, a non-root uid).
"""
from __future__ import annotations

from ..dsl.fields import Fields
from ..engine.containers import Isolation
from ..errors import SpecError
from .base import Key

#: A grade's: a run's ``user:`` is any user (``tasks.kinds.container``), a check's never root.
USER = Key("user", "string", "run as this non-root uid (or uid:gid) instead of the image's user")
WRITABLE = Key("writable", "boolean", "true: a writable root file system (default: read-only, "
               "with a 64 MB /tmp)")
KEYS = (USER, WRITABLE)


def user(f: Fields) -> str:
    """The ``user:`` key: "" (the image's user), or a non-root ``uid`` or ``uid:gid``.

    Raises:
        SpecError: not numbers, or root (0), with the key's line.
    """
    text = f.text("user")
    if text is None:
        return ""
    parts = text.split(":")
    if len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise SpecError(f.where("user"), f"'{text}' is not a uid or uid:gid.",
                        "Write numbers, e.g. user: \"1000\" or user: \"1000:1000\" (names "
                        "depend on the image's /etc/passwd).")
    if int(parts[0]) == 0:
        raise SpecError(f.where("user"), "user 0 is root, which the image's user may be "
                        "already.", "Name a non-root uid (e.g. \"1000\"), or leave 'user:' "
                        "out to keep the image's own user.")
    return text


def writable(f: Fields) -> bool:
    """The ``writable:`` key (default false)."""
    return bool(f.value("writable", bool))


def profile(user: str, writable: bool, network: str | None) -> Isolation:
    """The container's isolation for a step with these keys."""
    return Isolation(network=network, user=user, writable=writable)


#: What a container's output says when it met the isolation, and what that means.
_SIGNS = (
    ("Read-only file system", "its root file system is read-only: write under /tmp (64 MB), or "
     "add 'writable: true' to the step"),
    ("Network is unreachable", "it has no network: name a network step with 'network:'"),
    ("Temporary failure in name resolution", "it has no network: name a network step with "
     "'network:'"),
    ("Operation not permitted", "it runs without capabilities and cannot gain privileges "
     "(no sudo, no setuid)"),
)


def hints(output: str) -> list[str]:
    """What the isolation explains of a failed container's ``output`` (each said once)."""
    found: list[str] = []
    for sign, meaning in _SIGNS:
        if sign in output and meaning not in found:
            found.append(meaning)
    return found
