"""ac295-pipelines: the lecture's exercises as doit task graphs.

Layers, each a subpackage: ``dsl`` (the exercise language: YAML and config into frozen steps) -> ``graph`` (edges
and doit task dicts, pure) -> ``kinds`` (one module per step kind: its checks and actions)
-> ``engine`` and ``venvs`` (the only code that touches Docker, registries and virtualenv).
``project`` wires them for ``dodo.py``; ``process`` holds what a doit process sets up
(signals, the run lock); ``errors`` holds every error a user can see;
``names`` the command and task names; ``progress`` how long work reports.
"""
