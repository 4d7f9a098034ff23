"""Choosing the renderer: FaceState frames (+ audio) in, RGB frames out (``agent.core.stages.Renderer``).

The built-in drawn avatar is the default, the photo renderer when ``avatar.photo`` is set. Any
other renderer (a neural talking head, a game engine, a robot's face display) is a third-party
distribution that declares an entry point in the ``embodied_agent.renderers`` group and is chosen
by name: ``avatar: {renderer: NAME, options: {...}}`` in a persona or ``--renderer NAME``.
``make_renderer`` calls it as ``factory(avatar, size=..., device=..., threads=...)``; the
protocol and an example are in docs/renderers.md. Renderers are synchronous and batch-first: the
caller runs ``render`` in a worker thread.
"""

from __future__ import annotations

import logging
from importlib import metadata

from agent.core.errors import UserError
from agent.core.stages import Renderer

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "embodied_agent.renderers"


def make_renderer(avatar: object, size: tuple[int, int] = (512, 512), device: str | None = None,
                  threads: int | None = None, name: str | None = None) -> Renderer:
    """The renderer for a persona's ``avatar`` block.

    ``name`` (default: the avatar block's ``renderer``) picks a renderer registered under the
    ``embodied_agent.renderers`` entry-point group; without one, the photo renderer when the
    avatar has a photo, else the drawn avatar. ``device`` is
    a torch device (default: CUDA when available); on the CPU, ``threads`` is the number of
    worker threads a batch is split across (default: up to 2), each running torch
    single-threaded, so building a CPU renderer sets torch's intra-op threads to 1.
    """
    width, height = int(size[0]), int(size[1])
    if width < 64 or height < 64 or width > 4096 or height > 4096:
        raise UserError(f"frame size {width}x{height} is out of range; use 64..4096 pixels a side")
    name = name or getattr(avatar, "renderer", None)
    if name:
        return _from_entry_point(name, avatar, (width, height), device, threads)
    if getattr(avatar, "photo", None):
        try:
            from render.photo import PhotoRenderer
        except ImportError:
            raise UserError("photo avatars are not available in this build; remove avatar.photo to "
                            "use the drawn avatar (styles: ada, bruno, kiko, sol, mira)") from None
        return PhotoRenderer(avatar, size=(width, height), device=device, threads=threads)
    from render.avatar import AvatarRenderer, resolve

    return AvatarRenderer(resolve(avatar), size=(width, height), device=device, threads=threads)


def available() -> list[str]:
    """Names of third-party renderers installed."""
    return sorted(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))


def _from_entry_point(name: str, avatar: object, size: tuple[int, int], device: str | None,
                      threads: int | None) -> Renderer:
    found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = ", ".join(available()) or "none installed"
        raise UserError(f"unknown renderer {name!r}; installed renderers: {known}")
    try:
        factory = found[0].load()
    except ImportError as e:  # the package is there but something it needs is not
        raise UserError(f"renderer {name!r} ({found[0].value}) cannot be loaded: {e}") from None
    renderer = factory(avatar, size=size, device=device, threads=threads)
    if not isinstance(renderer, Renderer):
        raise UserError(f"renderer {name!r} ({found[0].value}) does not implement render/push_audio/size")
    if tuple(renderer.size) != size:
        raise UserError(f"renderer {name!r} makes {renderer.size[0]}x{renderer.size[1]} frames; "
                        f"{size[0]}x{size[1]} were asked for")
    log.info("renderer %s from %s", name, found[0].value)
    return renderer
