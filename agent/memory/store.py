"""The memory database of every user of this OS account: facts, session summaries, affect.

Blocking: a session calls it from its memory worker thread (``agent.memory.stage``), the
``agent memory`` command directly. Every update is one transaction (``BEGIN IMMEDIATE`` …
``COMMIT``): a crash leaves each turn either wholly written or not at all, and concurrent
sessions (other processes included) take turns at the write lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.memory.paths import database_path
from agent.memory.schema import MIGRATIONS, Migration, connect

# Two notes this close in MiniLM space say the same thing ("has a chemistry exam on Friday" /
# "... on Monday"): the newer wording replaces the older, which is how a changed detail is kept.
DUPLICATE = 0.88

VAD = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Draft:
    """A fact about to be stored."""

    kind: str
    text: str
    value: str | None
    source: str  # the user's words it came from
    embedding: np.ndarray


@dataclass(frozen=True, slots=True)
class Fact:
    id: int
    kind: str
    text: str
    value: str | None
    source: str
    created: float
    seen: float  # the latest mention
    mentions: int
    session_id: int | None
    embedding: np.ndarray


@dataclass(frozen=True, slots=True)
class PastSession:
    id: int
    persona: str
    started: float
    ended: float | None
    turns: int
    summary: str | None
    summary_embedding: np.ndarray | None
    vad: VAD | None  # the session's affect, confidence-weighted over its turns
    confidence: float


@dataclass(frozen=True, slots=True)
class Forgotten:
    facts: int
    sessions: int
    readings: int  # per-turn affect rows
    left: int  # erased texts still found in the file's bytes (0 unless another process holds it)


def _vector(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32)


class MemoryStore:
    def __init__(self, path: Path | None = None, *, now: Callable[[], float] = time.time,
                 migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = path or database_path()
        self.now = now
        self._con = connect(self.path, migrations)

    def close(self) -> None:
        self._con.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def _user_id(self, name: str, create: bool = False) -> int | None:
        row = self._con.execute("SELECT id FROM users WHERE key = ?", (name.casefold(),)).fetchone()
        if row is not None:
            return int(row[0])
        if not create:
            return None
        cur = self._con.execute("INSERT INTO users (key, name, created) VALUES (?, ?, ?)",
                                (name.casefold(), name, self.now()))
        return int(cur.lastrowid or 0)

    # ------------------------------------------------------------------ writing
    def record_turn(self, user: str, persona: str, session_id: int | None,
                    affect: tuple[VAD, float] | None, drafts: Sequence[Draft]) -> int:
        """One user turn, in one transaction: its affect reading and the facts it told, each
        merged into a note it repeats. Returns the session's id (made on its first turn, and
        again if ``agent memory forget`` erased it meanwhile)."""
        now = self.now()
        with self._tx() as con:
            uid = self._user_id(user, create=True)
            if session_id is None or con.execute("SELECT 1 FROM sessions WHERE id = ? AND user_id = ?",
                                                 (session_id, uid)).fetchone() is None:
                session_id = int(con.execute("INSERT INTO sessions (user_id, persona, started) VALUES (?, ?, ?)",
                                             (uid, persona, now)).lastrowid or 0)
            con.execute("UPDATE sessions SET turns = turns + 1 WHERE id = ?", (session_id,))
            if affect is not None:
                (v, a, d), confidence = affect
                con.execute("INSERT INTO affect (session_id, t, valence, arousal, dominance, confidence) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (session_id, now, v, a, d, confidence))
            if drafts:
                self._merge(con, uid, session_id, drafts, now)
        return session_id

    def _merge(self, con: sqlite3.Connection, uid: int | None, session_id: int, drafts: Sequence[Draft],
               now: float) -> None:
        rows = con.execute("SELECT id, kind, embedding FROM facts WHERE user_id = ?", (uid,)).fetchall()
        ids = [int(r[0]) for r in rows]
        kinds = [str(r[1]) for r in rows]
        vectors = [np.frombuffer(r[2], dtype=np.float32) for r in rows]
        for d in drafts:
            match = None
            if d.kind == "name" and "name" in kinds:  # one name: a new one replaces it
                match = ids[kinds.index("name")]
            elif vectors:
                sims = np.stack(vectors) @ d.embedding
                best = int(np.argmax(sims))
                match = ids[best] if sims[best] >= DUPLICATE else None
            blob = np.asarray(d.embedding, dtype=np.float32).tobytes()
            if match is not None:
                con.execute("UPDATE facts SET kind = ?, text = ?, value = ?, source = ?, embedding = ?, "
                            "seen = ?, mentions = mentions + 1, session_id = ? WHERE id = ?",
                            (d.kind, d.text, d.value, d.source, blob, now, session_id, match))
                vectors[ids.index(match)] = d.embedding
            else:
                cur = con.execute("INSERT INTO facts (user_id, session_id, kind, text, value, source, embedding, "
                                  "created, seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                  (uid, session_id, d.kind, d.text, d.value, d.source, blob, now, now))
                ids.append(int(cur.lastrowid or 0))
                kinds.append(d.kind)
                vectors.append(d.embedding)

    def end_session(self, session_id: int, summary: str | None, embedding: np.ndarray | None) -> None:
        """The session's summary and its affect aggregated over its turns (one transaction; a
        session that was forgotten meanwhile stays forgotten)."""
        blob = None if embedding is None else np.asarray(embedding, dtype=np.float32).tobytes()
        with self._tx() as con:
            row = con.execute(_AGGREGATE + " HAVING session_id = ?", (session_id,)).fetchone()
            v, a, d, c = (None, None, None, None) if row is None else row[1:]
            con.execute("UPDATE sessions SET ended = ?, summary = ?, summary_embedding = ?, valence = ?, "
                        "arousal = ?, dominance = ?, confidence = ? WHERE id = ?",
                        (self.now(), summary, blob, v, a, d, c, session_id))

    # ------------------------------------------------------------------ reading
    def facts(self, user: str) -> list[Fact]:
        """The user's facts, the most recently mentioned first."""
        rows = self._con.execute(
            "SELECT f.id, kind, text, value, source, f.created, seen, mentions, session_id, embedding "
            "FROM facts f JOIN users u ON u.id = f.user_id WHERE u.key = ? ORDER BY seen DESC, f.id DESC",
            (user.casefold(),)).fetchall()
        return [Fact(int(r[0]), r[1], r[2], r[3], r[4], float(r[5]), float(r[6]), int(r[7]),
                     r[8], np.frombuffer(r[9], dtype=np.float32)) for r in rows]

    def sessions(self, user: str) -> list[PastSession]:
        """The user's sessions, the latest first; a session that never ended (a crash) has its
        affect aggregated from the turns it wrote."""
        rows = self._con.execute(
            "SELECT s.id, persona, started, ended, turns, summary, summary_embedding, "
            "COALESCE(s.valence, a.v), COALESCE(s.arousal, a.a), COALESCE(s.dominance, a.d), "
            "COALESCE(s.confidence, a.c, 0.0) "
            "FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN (" + _AGGREGATE + ") a "
            "ON a.session_id = s.id WHERE u.key = ? ORDER BY started DESC, s.id DESC",
            (user.casefold(),)).fetchall()
        return [PastSession(int(r[0]), r[1], float(r[2]), r[3], int(r[4]), r[5], _vector(r[6]),
                            None if r[7] is None else (float(r[7]), float(r[8]), float(r[9])), float(r[10]))
                for r in rows]

    def readings(self, session_id: int) -> list[tuple[float, VAD, float]]:
        """A session's per-turn affect: (time, VAD, confidence)."""
        rows = self._con.execute("SELECT t, valence, arousal, dominance, confidence FROM affect "
                                 "WHERE session_id = ? ORDER BY t, id", (session_id,)).fetchall()
        return [(float(r[0]), (float(r[1]), float(r[2]), float(r[3])), float(r[4])) for r in rows]

    # ------------------------------------------------------------------ forgetting
    def forget(self, user: str) -> Forgotten:
        """Erase everything about ``user`` for good: the rows (overwritten with zeros by
        ``secure_delete``), then the whole file rewritten (VACUUM) and the WAL emptied, so no
        old page keeps a copy. ``left`` counts the erased texts still found in the file's bytes."""
        facts, sessions = self.facts(user), self.sessions(user)
        readings = sum(len(self.readings(s.id)) for s in sessions)
        texts = {t for f in facts for t in (f.text, f.source)} | {s.summary for s in sessions if s.summary}
        with self._tx() as con:
            con.execute("DELETE FROM users WHERE key = ?", (user.casefold(),))  # cascades to the rest
        self._con.execute("PRAGMA temp_store = MEMORY")  # VACUUM's copy never touches a temp file
        self._con.execute("VACUUM")
        self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        left = self._still_in_file(texts)
        return Forgotten(len(facts), len(sessions), readings, left)

    def _still_in_file(self, texts: set[str]) -> int:
        data = b""
        for suffix in ("", "-wal"):
            try:
                data += Path(str(self.path) + suffix).read_bytes()
            except FileNotFoundError:
                pass
        return sum(1 for t in texts if t.encode("utf-8") in data)


# the confidence-weighted mean VAD of each session's turns
_AGGREGATE = ("SELECT session_id, SUM(valence * confidence) / SUM(confidence) AS v, "
              "SUM(arousal * confidence) / SUM(confidence) AS a, SUM(dominance * confidence) / SUM(confidence) AS d, "
              "AVG(confidence) AS c FROM affect WHERE confidence > 0 GROUP BY session_id")
