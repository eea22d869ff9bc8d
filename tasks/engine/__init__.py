"""The engine layer: the only code that talks to the Docker Engine and to registries.

Functions take plain values (paths, references, labels), never steps, and raise the project's
errors: the Docker SDK's and requests' exceptions are translated here (``boundary.translated``),
and no other package imports the SDK or speaks to the engine's socket.
"""
