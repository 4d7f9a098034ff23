"""One readable line for whatever an HTTP LLM client raised (httpx, ollama, openai)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache

import httpx

_MESSAGES = {
    "timeout": "did not answer within {timeout:g} s (raise llm.timeout if the model is just slow to load)",
    "refused": "is not reachable; start the server or fix llm.base_url",
    "dropped": "closed the connection in the middle of the reply",
    "garbage": "answered with something that is not a chat stream (is llm.base_url that server?)",
}


@cache
def _kinds() -> tuple[tuple[tuple[type[BaseException], ...], str], ...]:
    """Exception types per kind, most specific first (an openai timeout is also a connection error)."""
    timeout: list[type[BaseException]] = [httpx.TimeoutException, TimeoutError]
    refused: list[type[BaseException]] = [httpx.ConnectError, ConnectionError]  # ollama re-raises as ConnectionError
    try:
        import openai

        timeout.append(openai.APITimeoutError)
        refused.append(openai.APIConnectionError)
    except ImportError:
        pass
    dropped = (httpx.RemoteProtocolError, httpx.ReadError)
    garbage = (json.JSONDecodeError, UnicodeDecodeError)
    return ((tuple(timeout), "timeout"), (tuple(refused), "refused"), (dropped, "dropped"),
            (garbage, "garbage"))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) and code > 0 else None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "error", None) or exc).split())[:160]


def describe(exc: BaseException, timeout: float) -> str:
    """Finish the sentence "<backend> at <url> ..." for ``exc``. The innermost known cause
    decides: a client's "connection error" around a connection cut mid-reply is the cut."""
    found: str | None = None
    for e in _chain(exc):
        if (status := _status(e)) is not None:
            return f"answered HTTP {status}: {_one_line(e)}"
        found = next((kind for types, kind in _kinds() if isinstance(e, types)), found)
    if found is not None:
        return _MESSAGES[found].format(timeout=timeout)
    return f"failed: {type(exc).__name__}: {_one_line(exc)}"
