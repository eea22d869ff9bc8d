"""Step kinds: one module per kind, registered here with one line each.

Adding a kind means one new module (a ``Step`` subclass and a ``Kind`` subclass; see
``tasks.kinds.base``) and one ``KINDS.register(...)`` line below; the parser, the graph,
the lock and the docs ask the registry, never a step's class.
"""
from __future__ import annotations

from .base import Kind, KindTable
from .build import Build
from .commit import Commit
from .compose import Compose
from .grade import Grade, GradeStudent
from .import_ import Import
from .kernel import Kernel
from .measure import Measure
from .network import Network
from .pull import Pull
from .push import Push
from .run import Run
from .save import Save
from .service import Service
from .sh import Sh
from .venv import Venv
from .vm import Vm
from .volume import Volume
from .wheelhouse import Wheelhouse

KINDS = KindTable()
KINDS.register(Venv())
KINDS.register(Wheelhouse())
KINDS.register(Build())
KINDS.register(Import())
KINDS.register(Pull())
KINDS.register(Commit())
KINDS.register(Run())
KINDS.register(Service())
KINDS.register(Push())
KINDS.register(Network())
KINDS.register(Volume())
KINDS.register(Sh())
KINDS.register(Save())
KINDS.register(Kernel())
KINDS.register(Vm())
KINDS.register(Measure())
KINDS.register(Grade())
KINDS.register(GradeStudent())
KINDS.register(Compose())

__all__ = ["KINDS", "Kind", "KindTable"]
