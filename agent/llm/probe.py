"""Is an LLM server there? Cheap HTTP checks with short timeouts, used by auto-selection and `agent doctor`."""

from __future__ import annotations

import os

import httpx

OLLAMA_DEFAULT = "http://127.0.0.1:11434"
CONNECT_TIMEOUT = 2.0


def ollama_url(base_url: str | None = None) -> str:
    """The Ollama URL: the given one, else $OLLAMA_HOST (which may lack a scheme), else the default."""
    url = (base_url or os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT).strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url.replace("://0.0.0.0", "://127.0.0.1")  # a listen address, not a destination


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT, seconds))


async def ollama_models(base_url: str | None, timeout: float) -> list[str]:
    """The model names Ollama lists (GET /api/tags); raises what httpx raises when it can't."""
    async with httpx.AsyncClient(timeout=_timeout(timeout)) as client:
        response = await client.get(ollama_url(base_url) + "/api/tags")
        response.raise_for_status()
        return [str(m["name"]) for m in response.json().get("models", [])]


async def probe_ollama(base_url: str | None = None, timeout: float = 1.0) -> list[str] | None:
    """The model names Ollama lists, or None when it is down, slow or not Ollama."""
    try:
        return await ollama_models(base_url, timeout)
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return None


def has_model(listed: list[str], model: str) -> bool:
    """Whether Ollama's list holds ``model`` (a name without a tag means ":latest")."""
    return model in listed or (":" not in model and f"{model}:latest" in listed)


async def answers(url: str, timeout: float) -> None:
    """Returns when anything answers at ``url`` with any HTTP status; raises what httpx raises otherwise."""
    async with httpx.AsyncClient(timeout=_timeout(timeout)) as client:
        await client.get(url)
