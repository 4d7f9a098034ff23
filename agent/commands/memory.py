"""``agent memory show|forget|export``: what the agent remembers of a user, and erasing it.

The memories live in one SQLite file on this machine (``agent.memory.paths``: the platform's
data directory, or ``$AGENT_MEMORY_DIR``); ``show`` prints where. ``forget`` erases the user's
facts, session summaries and affect history for good and then checks the file's bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from agent.commands import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("memory", help="show, export or forget what the agent remembers of a user",
                       description="What the agent remembers of a user (facts they told it, a summary of "
                                   "each session, how they felt), kept in a local file: show it, export "
                                   "all of it as JSON, or forget it for good.")
    p.add_argument("action", choices=("show", "forget", "export"))
    p.add_argument("--user", metavar="NAME", help="whose memories (default: your OS user name)")
    p.add_argument("--json", action="store_true", help="machine-readable output (export is always JSON)")
    common(p, persona=False)
    p.set_defaults(func=run)


def _when(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t).isoformat(timespec="seconds")


def _vad(vad: tuple[float, float, float] | None) -> list[float] | None:
    return None if vad is None else [round(x, 4) for x in vad]


def collect(store: Any, user: str, readings: bool = False) -> dict[str, Any]:
    """The user's memories as plain data (``readings``: each turn's affect too, for export)."""
    sessions = []
    for s in store.sessions(user):
        item = {"persona": s.persona, "started": _when(s.started), "ended": _when(s.ended), "turns": s.turns,
                "summary": s.summary, "affect": {"vad": _vad(s.vad), "confidence": round(s.confidence, 4)}}
        if readings:
            item["readings"] = [{"t": _when(t), "vad": _vad(vad), "confidence": round(c, 4)}
                                for t, vad, c in store.readings(s.id)]
        sessions.append(item)
    facts = [{"kind": f.kind, "text": f.text, "value": f.value, "from": f.source, "first_told": _when(f.created),
              "last_told": _when(f.seen), "mentions": f.mentions} for f in store.facts(user)]
    return {"user": user, "database": str(store.path), "facts": facts, "sessions": sessions}


def _show(data: dict[str, Any]) -> None:
    facts, sessions = data["facts"], data["sessions"]
    if not facts and not sessions:
        print(f"nothing remembered of {data['user']} (database: {data['database']})")
        return
    print(f"what is remembered of {data['user']} (database: {data['database']})")
    print(f"facts ({len(facts)}):")
    for f in facts:
        print(f"  [{f['kind']}] {f['text']}  (told {f['last_told']}, {f['mentions']}x; from: {f['from']!r})")
    print(f"sessions ({len(sessions)}):")
    for s in sessions:
        vad = s["affect"]["vad"]
        felt = "V {:+.2f} A {:+.2f} D {:+.2f}".format(*vad) if vad else "no affect read"
        print(f"  {s['started']} with {s['persona']}, {s['turns']} turn(s), the user's affect {felt}: "
              f"{s['summary'] or '(no summary)'}")


def run(args: argparse.Namespace) -> int:
    from agent.memory import MemoryStore
    from agent.memory.paths import session_user

    user = session_user(args.user)
    store = MemoryStore()
    try:
        if args.action == "forget":
            gone = store.forget(user)
            result = {"user": user, "database": str(store.path), "facts": gone.facts, "sessions": gone.sessions,
                      "affect_readings": gone.readings, "left_in_file": gone.left}
            if args.json:
                print(json.dumps(result))
            elif gone.facts or gone.sessions:
                print(f"forgot {user}: {gone.facts} fact(s), {gone.sessions} session(s) with their summaries, "
                      f"{gone.readings} affect reading(s); erased from {store.path}")
            else:
                print(f"nothing remembered of {user} (database: {store.path})")
            if gone.left:
                print(f"agent: {gone.left} erased text(s) are still in {store.path}: a session of {user} still "
                      f"has it open; end it and run `agent memory forget --user {user}` again", file=sys.stderr)
                return 1
            return 0
        data = collect(store, user, readings=args.action == "export")
        if args.json or args.action == "export":
            print(json.dumps(data, ensure_ascii=False, indent=None if args.action == "show" else 2))
        else:
            _show(data)
        return 0
    finally:
        store.close()
