"""The graph layer: specs to doit task dicts (pure), edges, records, the lock, the file checker.

Nothing here touches the engine; ``compile`` asks each step's kind for what only it knows.
"""
