"""``agent gallery``: a contact sheet of a persona's avatar, every basic emotion and the visemes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from agent.commands import common
from agent.core.errors import UserError

if TYPE_CHECKING:
    import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gallery", help="write a contact sheet of a persona's avatar",
                       description="Render the persona's avatar showing each basic emotion and the "
                                   "visemes, labelled, into one PNG.")
    common(p)
    p.add_argument("--output", "-o", metavar="PATH.png", default="gallery.png")
    p.add_argument("--style", choices=("ada", "bruno", "kiko", "sol", "mira"),
                   help="draw this avatar style instead of the persona's")
    p.add_argument("--avatar-photo", metavar="PORTRAIT.jpg", help="animate a portrait instead")
    p.add_argument("--renderer", metavar="NAME",
                   help="a renderer another package registers (entry point embodied_agent.renderers)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from persona.config import get_persona
    from render.renderer import make_renderer
    from render.sheet import contact_sheet

    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise UserError(f"--output {out}: the contact sheet is written as .png")
    if not out.parent.exists():
        raise UserError(f"--output {out}: no such folder {out.parent}")
    avatar = get_persona(args.persona, args.config).avatar
    if args.style:
        avatar = avatar.model_copy(update={"style": args.style, "accessory": None})
    if args.avatar_photo:
        avatar = avatar.model_copy(update={"photo": args.avatar_photo})
    if args.renderer:
        avatar = avatar.model_copy(update={"renderer": args.renderer})
    renderer = make_renderer(avatar, size=(512, 512))
    what = (f"renderer {avatar.renderer}" if avatar.renderer else
            f"photo {Path(avatar.photo).name}" if avatar.photo else avatar.style)
    sheet = contact_sheet(renderer, title=f"{args.persona} ({what})")
    write_png(out, sheet)
    print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


def write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), rgb[:, :, ::-1]):
        raise UserError(f"could not write {path}")
