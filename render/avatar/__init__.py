"""The built-in drawn avatars: five characters rendered in torch, no weights to download."""

from render.avatar.painter import AvatarRenderer
from render.avatar.styles import STYLES, Style, resolve

__all__ = ["AvatarRenderer", "STYLES", "Style", "resolve"]
