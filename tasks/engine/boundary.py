"""Where the Docker SDK's failures become the project's errors, in both forms they take.

- Exceptions: every ``DockerException``, and requests' when the engine's socket or a registry
  goes away mid-call, leave the engine layer as ``EngineError`` (``translated``), as docker-py
  itself translates at its HTTP boundary.
- Error chunks: build, push and pull answer HTTP 200 and then stream JSON chunks; a failure
  arrives as a chunk with ``error`` and/or ``errorDetail`` and raises nothing
  (``stream_error`` finds it).

This package is the only code that imports the SDK (``tests/test_boundary.py`` says so). The
SDK is imported lazily: it costs a null build 100 ms.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, TypeVar

from ..errors import Ac295Error, EngineError

F = TypeVar("F", bound=Callable[..., Any])


def translate(err: BaseException) -> Ac295Error | None:
    """The project's error for a library exception, or None if it is not a library's.

    Covers the Docker SDK (every ``DockerException``) and requests (the engine's socket or a
    registry went away mid-call).
    """
    import docker.errors
    import requests

    if isinstance(err, docker.errors.DockerException):
        explanation = getattr(err, "explanation", None)
        return EngineError(f"the Docker Engine refused: {explanation or err}")
    if isinstance(err, requests.RequestException):
        return EngineError(f"lost the connection to the Docker Engine or a registry "
                           f"({type(err).__name__}); is dockerd still running? Rerun "
                           "script/bootstrap.")
    return None


def translated(function: F) -> F:
    """Decorate a function that calls the Docker SDK: its exceptions leave as ``EngineError``."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Ac295Error:
            raise
        except Exception as err:  # noqa: BLE001 - translate() decides; others re-raise
            ours = translate(err)
            if ours is None:
                raise
            raise ours from None

    return wrapper  # type: ignore[return-value]


def stream_error(chunk: Mapping[str, Any]) -> str | None:
    """The failure an engine stream's chunk reports, or None for an ordinary chunk.

    The engine writes ``{"errorDetail": {"message": ...}, "error": ...}``; either half alone
    is a failure too. The detail's message is preferred (the fuller text).
    """
    detail = chunk.get("errorDetail")
    message = detail.get("message") if isinstance(detail, Mapping) else detail
    if message:
        return str(message)
    if chunk.get("error"):
        return str(chunk["error"])
    if "error" in chunk or "errorDetail" in chunk:
        return "the engine reported an error without a message"
    return None
