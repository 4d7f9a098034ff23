"""``agent personas``: list the personas a config defines."""

from __future__ import annotations

import argparse
import json

from agent.commands import common
from persona.config import load_personas


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("personas", help="list the personas in personas.yaml",
                       description="List the personas defined in personas.yaml (or --config PATH).")
    common(p, persona=False)
    p.add_argument("--config", metavar="PATH", help="another personas.yaml")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    personas = load_personas(args.config)
    if args.json:
        print(json.dumps({k: v.model_dump() for k, v in personas.items()}, indent=2, ensure_ascii=False))
        return 0
    for key, p in personas.items():
        t = p.traits
        print(f"{key:<11} {p.display_name:<22} lang={p.language:<3} "
              f"O={t.O:.2f} C={t.C:.2f} E={t.E:.2f} A={t.A:.2f} N={t.N:.2f}  "
              f"voice={p.voice.backend:<6} avatar={p.avatar.style:<5} llm={p.llm.model}")
    return 0
