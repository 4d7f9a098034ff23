"""``agent bench SUITE``: benchmarks (see ``agent.bench``)."""

from __future__ import annotations

import argparse
import importlib
import sys

from agent.bench import SUITES
from agent.commands import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure speed and accuracy on this machine",
                       description="Run benchmark suites and print min / median / p95 tables.")
    p.add_argument("suite", nargs="?", default="all", choices=("all", *SUITES))
    p.add_argument("--quick", action="store_true", help="tiny inputs (CI: keeps the benchmark code alive)")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write JSON (to PATH, or stdout when no PATH is given)")
    p.add_argument("--peld", metavar="FILE.tsv", help="PELD split for the emotion suite")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--soak-minutes", type=float, metavar="MIN", help="soak length (default 30)")
    p.add_argument("--sessions", type=int, metavar="N", help="serve: up to N WebRTC sessions at once (default 4)")
    common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.bench.report import BenchOptions, Suite, write_json
    from agent.core.errors import UserError

    opts = BenchOptions(quick=args.quick, peld=args.peld, seed=args.seed,
                        extra={"persona": args.persona, "config": args.config,
                               "soak_minutes": args.soak_minutes, "sessions": args.sessions})
    names = SUITES if args.suite == "all" else (args.suite,)
    suites = []
    for name in names:
        module = importlib.import_module(f"agent.bench.{name}")
        try:
            suite = module.run(opts)
        except UserError as e:
            if args.suite != "all":
                raise
            # `all`: a suite that needs something this machine lacks (a data set) is skipped
            suite = Suite(name, notes=[f"skipped: {e}"])
        suites.append(suite)
        # the table goes to stderr when stdout carries JSON, so both stay readable
        print(suite.table(), file=sys.stderr if args.json == "-" else sys.stdout, flush=True)
    if args.json:
        write_json(suites, args.json)
    return 0 if all(s.ok for s in suites) else 1
