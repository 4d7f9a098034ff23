"""Where the memory database lives, and who the user is.

One SQLite file per OS account, in that account's data directory by the platform's own
convention: ``$XDG_DATA_HOME`` (default ``~/.local/share``) on Linux, ``~/Library/Application
Support`` on macOS, ``%LOCALAPPDATA%`` on Windows, each under ``embodied-agent/``.
``$AGENT_MEMORY_DIR`` puts it elsewhere (tests, a portable install).
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from agent.core.errors import UserError

FILE_NAME = "memory.sqlite3"
MAX_NAME = 64


def data_dir() -> Path:
    override = os.environ.get("AGENT_MEMORY_DIR")
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "embodied-agent"


def database_path() -> Path:
    return data_dir() / FILE_NAME


def os_user() -> str:
    """The OS account's name: who a local session talks to unless ``--user`` says otherwise."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container with no passwd entry and no $USER
        return "local"


def check_user(name: str) -> str:
    """``name`` as given, trimmed; one clear line when it cannot name a user."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise UserError(f"--user: give a name of 1 to {MAX_NAME} printable characters (got {name!r})")
    return name


def session_user(given: str | None) -> str:
    """``--user`` as given, or the OS user for a local session."""
    return check_user(given) if given is not None else os_user()
