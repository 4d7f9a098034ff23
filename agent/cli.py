"""The ``agent`` command. Each subcommand lives in ``agent/commands/<name>.py`` and exposes
``register(subparsers)``; heavy imports happen inside the command, so ``--help`` is instant."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import pkgutil
import sys

import agent.commands
from agent.core.errors import UserError
from persona.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent",
        description="A conversational embodied agent: it sees and hears you, feels something "
                    "about it the way its personality explains, and answers with a voice and a face.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(agent.commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"agent.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "httpcore", "urllib3", "numba", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # read by the tokenizers library when MiniLM first runs, on a worker thread: set here, before
    # any thread starts, so that nothing changes the process's environment once it runs
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return int(args.func(args) or 0)
    except (ConfigError, UserError) as e:
        print(f"agent: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        # Everything the command opened is closed by now. What is left (torch's and the models'
        # millions of objects) only waits for the interpreter to end: frozen, the collector
        # does not walk it once more on the way out (1-1.5 s of a Ctrl-C otherwise).
        gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
