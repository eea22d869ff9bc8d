"""Step kinds: one module per kind, registered here with one line each.

Adding a kind means one new module (a ``Step`` subclass and a ``Kind`` subclass; see
``tasks.kinds.base``) and one ``REGISTRY.register(...)`` line below; the parser, the graph,
the lock and the docs ask the registry, never a step's class.
"""
from __future__ import annotations

from .base import Kind, Registry
from .build import Build
from .commit import Commit
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
from .wheelhouse import Wheelhouse

REGISTRY = Registry()
REGISTRY.register(Venv())
REGISTRY.register(Wheelhouse())
REGISTRY.register(Build())
REGISTRY.register(Import())
REGISTRY.register(Pull())
REGISTRY.register(Commit())
REGISTRY.register(Run())
REGISTRY.register(Service())
REGISTRY.register(Push())
REGISTRY.register(Network())
REGISTRY.register(Sh())
REGISTRY.register(Save())
REGISTRY.register(Kernel())
REGISTRY.register(Vm())
REGISTRY.register(Measure())
REGISTRY.register(Grade())
REGISTRY.register(GradeStudent())

__all__ = ["REGISTRY", "Kind", "Registry"]
