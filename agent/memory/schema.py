"""The memory database's schema and how a file is brought up to it.

``PRAGMA user_version`` is the schema version; ``MIGRATIONS[i]`` takes a file from version ``i``
to ``i + 1``. Each step runs in one transaction with the version bump, under SQLite's write
lock, so two processes opening a new file at once migrate it once, and a step that fails leaves
the file at the version it had.

The connection settings are what make the file safe: WAL with ``synchronous=FULL`` (a crash or
power cut mid-write loses at most the transaction in flight, never the file), a busy timeout
(concurrent sessions wait for each other's short transactions instead of failing),
``secure_delete`` (forgotten rows are overwritten with zeros, not left in free pages).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from agent.core.errors import UserError

BUSY_TIMEOUT_S = 10.0  # how long a writer waits for another process's transaction

Migration = Sequence[str]  # SQL statements

V1: Migration = (
    """CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,  -- the name case-folded: one user however it is capitalised
        name TEXT NOT NULL,
        created REAL NOT NULL
    )""",
    """CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        persona TEXT NOT NULL,
        started REAL NOT NULL,
        ended REAL,
        turns INTEGER NOT NULL DEFAULT 0,
        summary TEXT,
        summary_embedding BLOB,
        -- the session's affect: the per-turn rows below, confidence-weighted
        valence REAL, arousal REAL, dominance REAL, confidence REAL
    )""",
    """CREATE TABLE affect (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t REAL NOT NULL,
        valence REAL NOT NULL, arousal REAL NOT NULL, dominance REAL NOT NULL,
        confidence REAL NOT NULL
    )""",
    """CREATE TABLE facts (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        value TEXT,  -- the detail a greeting can use: a name, an event
        source TEXT NOT NULL,  -- the user's words it came from (the latest mention)
        embedding BLOB NOT NULL,
        created REAL NOT NULL,
        seen REAL NOT NULL,
        mentions INTEGER NOT NULL DEFAULT 1
    )""",
    "CREATE INDEX facts_user ON facts(user_id)",
    "CREATE INDEX sessions_user ON sessions(user_id, started)",
    "CREATE INDEX affect_session ON affect(session_id)",
)

MIGRATIONS: tuple[Migration, ...] = (V1,)


class StoreError(UserError):
    """The memory file cannot be used; ``str()`` is the one line to show."""


def connect(path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> sqlite3.Connection:
    """An open connection to ``path`` at the latest schema (created, private to this account)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fresh = not path.exists()
    try:
        con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)  # transactions are explicit
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open the memory database ({e})") from None
    try:
        if fresh:
            os.chmod(path, 0o600)  # memories are personal; SQLite gives the WAL the same mode
        _to_wal(con, BUSY_TIMEOUT_S)
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA secure_delete=ON")
        migrate(con, path, migrations)
    except sqlite3.DatabaseError as e:
        con.close()
        raise StoreError(f"{path}: not a usable memory database ({e}); move it away or set "
                         f"AGENT_MEMORY_DIR to another folder") from None
    except BaseException:
        con.close()
        raise
    return con


def _to_wal(con: sqlite3.Connection, timeout: float) -> None:
    """Switch to write-ahead logging. The switch needs the file to itself and SQLite answers
    "database is locked" at once, without its busy wait, while another process opens the same
    new file (two sessions of one user starting together): so wait here, as the busy timeout would."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def version(con: sqlite3.Connection) -> int:
    return int(con.execute("PRAGMA user_version").fetchone()[0])


def migrate(con: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
    latest = len(migrations)
    while True:
        con.execute("BEGIN IMMEDIATE")  # the write lock: another process may be migrating too
        try:
            v = version(con)
            if v > latest:
                raise StoreError(f"{path}: written by a newer embodied-agent (schema {v}; this one "
                                 f"knows up to {latest}); upgrade it, or set AGENT_MEMORY_DIR elsewhere")
            if v == latest:
                con.execute("COMMIT")
                return
            for statement in migrations[v]:
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {v + 1}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
