"""Errors a user sees as one clear line: what is wrong and how to fix it."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; ``str()`` is the one line shown (no traceback)."""


class MissingDependency(UserError):
    def __init__(self, what: str, install: str) -> None:
        super().__init__(f"{what} is not installed; install it with: {install}")


class DeviceUnavailable(UserError):
    """A camera, microphone, speaker or virtual device that is not there."""


class BackendUnavailable(UserError):
    """An LLM server (or other service) that is down, slow or refuses."""
