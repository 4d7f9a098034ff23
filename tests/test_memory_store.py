"""The memory file: migrations, crash safety, concurrent sessions, forgetting (in the file's bytes)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from agent.memory.schema import MIGRATIONS, StoreError, version
from agent.memory.store import Draft, MemoryStore

ROOT = Path(__file__).resolve().parents[1]


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def draft(text: str, seed: int, kind: str = "about", value: str | None = None) -> Draft:
    return Draft(kind, text, value, f"I said {text}", unit(seed))


def file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def counts(path: Path) -> tuple[int, int, int, int]:
    """(sessions.turns summed, affect rows, fact mentions summed, integrity ok)"""
    con = sqlite3.connect(path)
    try:
        ok = con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        turns = con.execute("SELECT COALESCE(SUM(turns), 0) FROM sessions").fetchone()[0]
        affect = con.execute("SELECT COUNT(*) FROM affect").fetchone()[0]
        mentions = con.execute("SELECT COALESCE(SUM(mentions), 0) FROM facts").fetchone()[0]
        return turns, affect, mentions, int(ok)
    finally:
        con.close()


# ------------------------------------------------------------------ migrations

def test_a_new_file_is_at_the_latest_schema_and_private(tmp_path):
    store = MemoryStore(tmp_path / "m" / "memory.sqlite3")
    store.close()
    con = sqlite3.connect(tmp_path / "m" / "memory.sqlite3")
    assert version(con) == len(MIGRATIONS)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "sessions", "affect", "facts"} <= tables
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    if os.name == "posix":
        assert (tmp_path / "m" / "memory.sqlite3").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "m").stat().st_mode & 0o777 == 0o700


def test_a_later_schema_step_upgrades_a_file_in_place_keeping_its_memories(tmp_path):
    path = tmp_path / "memory.sqlite3"
    store = MemoryStore(path)
    store.record_turn("sam", "tutor", None, ((0.1, 0.2, 0.3), 0.5), [draft("The user plays chess.", 1)])
    store.close()
    v2 = ("ALTER TABLE facts ADD COLUMN topic TEXT", "UPDATE facts SET topic = 'games'")
    store = MemoryStore(path, migrations=(*MIGRATIONS, v2))
    assert [f.text for f in store.facts("sam")] == ["The user plays chess."]
    store.close()
    con = sqlite3.connect(path)
    assert version(con) == len(MIGRATIONS) + 1
    assert con.execute("SELECT topic FROM facts").fetchall() == [("games",)]
    con.close()


def test_a_step_that_fails_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "memory.sqlite3"
    MemoryStore(path).close()
    broken = ("ALTER TABLE facts ADD COLUMN topic TEXT", "UPDATE no_such_table SET x = 1")
    with pytest.raises(StoreError):
        MemoryStore(path, migrations=(*MIGRATIONS, broken))
    con = sqlite3.connect(path)
    assert version(con) == len(MIGRATIONS)
    assert "topic" not in {r[1] for r in con.execute("PRAGMA table_info(facts)")}  # the first statement too
    con.close()


def test_a_file_from_a_newer_version_or_not_a_database_is_one_clear_line(tmp_path):
    path = tmp_path / "memory.sqlite3"
    MemoryStore(path, migrations=(*MIGRATIONS, ("CREATE TABLE later (x)",))).close()
    with pytest.raises(StoreError, match="newer embodied-agent") as e:
        MemoryStore(path)
    assert "\n" not in str(e.value)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database file" * 200)
    with pytest.raises(StoreError, match="not a usable memory database"):
        MemoryStore(junk)


# ------------------------------------------------------------------ one transaction per update

def test_an_update_that_fails_half_way_writes_nothing(tmp_path):
    store = MemoryStore(tmp_path / "memory.sqlite3")
    sid = store.record_turn("sam", "tutor", None, ((0.1, 0.2, 0.3), 0.5), [draft("The user rows.", 1)])
    bad = Draft("about", "The user sings.", None, "I sing", np.ones(3, np.float32))  # the wrong size: fails
    with pytest.raises(ValueError):  # after the turn's affect row and first fact were written
        store.record_turn("sam", "tutor", sid, ((0.5, 0.5, 0.5), 0.9), [draft("The user swims.", 2), bad])
    assert [f.text for f in store.facts("sam")] == ["The user rows."]
    assert store.sessions("sam")[0].turns == 1 and len(store.readings(sid)) == 1
    store.close()


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    import numpy as np
    from agent.memory.store import Draft, MemoryStore

    store = MemoryStore(Path(sys.argv[1]))
    who, turns, rng = sys.argv[2], int(sys.argv[3]), np.random.default_rng(int(sys.argv[4]))
    sid, i = None, 0
    while turns < 0 or i < turns:
        v = rng.normal(size=384).astype(np.float32)
        same = np.ones(384, np.float32) / np.sqrt(384)  # the same fact from every writer
        drafts = [Draft("about", f"{who} fact {i}", None, f"turn {i}", v / np.linalg.norm(v)),
                  Draft("goal", "The user wants to pass.", None, "I want to pass", same)]
        sid = store.record_turn("sam", who, sid, ((0.1, 0.2, 0.3), 0.5), drafts)
        i += 1
        if i == 10:
            print("writing", flush=True)
    store.close()
""")


def _writer(path: Path, who: str, turns: int, seed: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), who, str(turns), str(seed)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_process_killed_mid_write_leaves_every_turn_whole(tmp_path):
    path = tmp_path / "memory.sqlite3"
    for run in range(3):
        proc = _writer(path, f"w{run}", -1, run)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing", proc.stderr
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        turns, affect, mentions, ok = counts(path)
        assert ok
        assert turns >= 10 * (run + 1)
        # each turn wrote one affect row and two mentions, or nothing at all
        assert affect == turns and mentions == 2 * turns
    store = MemoryStore(path)  # and the file opens and takes new turns
    store.record_turn("sam", "tutor", None, None, [])
    store.close()


def test_concurrent_sessions_of_one_user_interleave_without_loss(tmp_path):
    path = tmp_path / "memory.sqlite3"  # new: both processes also race to create the schema
    procs = [_writer(path, who, 40, seed) for seed, who in enumerate(("one", "two"))]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
    store = MemoryStore(path)
    sessions = store.sessions("sam")
    facts = store.facts("sam")
    store.close()
    assert sorted(s.persona for s in sessions) == ["one", "two"] and all(s.turns == 40 for s in sessions)
    shared = [f for f in facts if f.text == "The user wants to pass."]
    assert len(shared) == 1 and shared[0].mentions == 80  # told by both: one note, merged
    assert len(facts) == 81


# ------------------------------------------------------------------ forgetting

def test_forget_erases_the_user_from_the_file_bytes_and_keeps_everyone_else(tmp_path):
    path = tmp_path / "memory.sqlite3"
    store = MemoryStore(path)
    sid = store.record_turn("Sam", "tutor", None, ((-0.4, 0.1, 0.0), 0.6),
                            [draft("The user has a chemistry exam on Friday.", 1, "event", "chemistry exam"),
                             draft("The user's name is Sam.", 2, "name", "Sam")])
    store.end_session(sid, "Sam said: “I have a chemistry exam on Friday.”", unit(3))
    other = store.record_turn("ana", "coach", None, ((0.5, 0.2, 0.1), 0.7), [draft("The user plays the violin.", 4)])
    store.end_session(other, "Ana talked about her violin lessons.", unit(5))
    reader = MemoryStore(path)  # another session's connection stays open meanwhile
    assert b"chemistry" in file_bytes(path)  # the check can see text that is there

    gone = store.forget("SAM")
    assert (gone.facts, gone.sessions, gone.readings, gone.left) == (2, 1, 1, 0)
    data = file_bytes(path)
    assert b"chemistry" not in data and b"Friday" not in data
    assert store.facts("sam") == [] and store.sessions("sam") == []
    assert [f.text for f in reader.facts("ana")] == ["The user plays the violin."]
    assert b"violin" in data
    # the open session goes on: its next turn starts a new session instead of failing
    sid2 = reader.record_turn("sam", "tutor", sid, None, [draft("The user likes tea.", 6)])
    assert sid2 != sid and [s.turns for s in reader.sessions("sam")] == [1]
    reader.close()
    store.close()


def test_forgetting_a_stranger_is_a_no_op(tmp_path):
    store = MemoryStore(tmp_path / "memory.sqlite3")
    gone = store.forget("nobody")
    assert (gone.facts, gone.sessions, gone.readings, gone.left) == (0, 0, 0, 0)
    store.close()


def test_a_repeated_fact_is_merged_and_a_new_name_replaces_the_old(tmp_path):
    store = MemoryStore(tmp_path / "memory.sqlite3", now=iter(range(100, 200)).__next__)
    v = unit(1)
    near = v + 0.05 * unit(2)
    sid = store.record_turn("sam", "tutor", None, None,
                            [Draft("event", "The user has an exam on Friday.", "exam", "a", v),
                             Draft("name", "The user's name is Sam.", "Sam", "b", unit(3))])
    store.record_turn("sam", "tutor", sid, None,
                      [Draft("event", "The user has an exam on Monday.", "exam", "c", near / np.linalg.norm(near)),
                       Draft("name", "The user's name is Samantha.", "Samantha", "d", unit(4)),
                       Draft("about", "The user lives in Leeds.", None, "e", unit(5))])
    facts = {f.kind: f for f in store.facts("sam")}
    assert facts["event"].text == "The user has an exam on Monday." and facts["event"].mentions == 2
    assert facts["event"].created < facts["event"].seen
    assert facts["name"].value == "Samantha" and len(store.facts("sam")) == 3
    store.close()


def test_a_new_file_another_process_holds_is_waited_for(tmp_path):
    """Switching a new file to WAL needs it to itself and SQLite says "locked" at once, without
    its busy wait: a second session starting beside the first must wait, not fail."""
    import sqlite3
    import threading

    from agent.memory.schema import connect

    path = tmp_path / "memory.sqlite3"
    first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    first.execute("BEGIN IMMEDIATE")  # another process in the middle of creating the file
    first.execute("CREATE TABLE t (x)")
    threading.Timer(0.3, lambda: first.execute("COMMIT")).start()
    con = connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    first.close()
