"""``agent plugins``: installed plugins and their settings."""

from plugins.cli import register, run

__all__ = ["register", "run"]
