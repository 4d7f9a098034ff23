"""Command-line glue: ``--plugin NAME[:key=value,...]`` for any command that runs a session, and
an ``agent plugins`` listing (wire it with ``agent/commands/plugins.py: from plugins.cli import
register``). Nothing heavy is imported until a command runs."""

from __future__ import annotations

import argparse
from typing import Any, Literal, get_args, get_origin


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--plugin`` (repeatable) and ``--plugin-policy``; read them back with ``PluginHost.from_specs``."""
    parser.add_argument("--plugin", action="append", default=[], metavar="NAME[:key=value,...]",
                        help="enable a plugin, e.g. vmc:host=127.0.0.1,port=39539 (repeatable; "
                             "`agent plugins` lists them)")
    parser.add_argument("--plugin-policy", choices=("disable", "restart"), default="disable",
                        help="what happens to a plugin that fails (default: disable)")
    return parser


def describe(name: str | None = None) -> str:
    """Installed plugins with their settings (name, type, default, description)."""
    from plugins.registry import available, load_class

    lines: list[str] = []
    for ep_name in sorted(available()) if name is None else [name]:
        try:
            cls = load_class(ep_name)
        except Exception as exc:  # one broken package must not hide the others
            lines.append(f"{ep_name}: {exc}")
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        lines.append(f"{ep_name}  ({cls.__module__}.{cls.__name__}, API {cls.api_version})"
                     + (f": {doc[0]}" if doc else ""))
        for key, field in cls.Settings.model_fields.items():
            default = "" if field.is_required() else f" = {field.default!r}"
            desc = f"  # {field.description}" if field.description else ""
            lines.append(f"    {key}: {_type_name(field.annotation)}{default}{desc}")
    return "\n".join(lines)


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "|".join(str(a) for a in get_args(annotation))
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("pydantic.types.", "")


def register(sub: Any) -> None:
    """``agent plugins [NAME]``: list installed plugins and their settings."""
    p = sub.add_parser("plugins", help="list installed plugins and their settings")
    p.add_argument("name", nargs="?", help="show one plugin")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(describe(args.name))
    return 0
