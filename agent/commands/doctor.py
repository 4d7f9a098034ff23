"""``agent doctor``: what works on this machine, and the fix for what does not."""

from __future__ import annotations

import argparse
import json

from agent.commands import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check devices, models and LLM servers",
                       description="Check what works on this machine: LLM reachable, camera, "
                                   "microphone, speakers, virtual camera and microphone, GPU, models.")
    common(p, persona=False)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.doctor import run_checks

    checks = run_checks()
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("--  " if c.optional else "FAIL")
            print(f"[{mark}] {c.name:<20} {c.detail}")
            if not c.ok and c.fix:
                print(f"       {'':<20} fix: {c.fix}")
    return 0 if all(c.ok or c.optional for c in checks) else 1
