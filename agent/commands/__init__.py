"""One module per ``agent`` subcommand; see ``agent.cli``."""

from __future__ import annotations

import argparse


def common(parser: argparse.ArgumentParser, persona: bool = True) -> argparse.ArgumentParser:
    """Options every persona-using command shares."""
    if persona:
        parser.add_argument("--persona", default="tutor", help="persona name from personas.yaml (default: tutor)")
        parser.add_argument("--config", metavar="PATH", help="another personas.yaml")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser
