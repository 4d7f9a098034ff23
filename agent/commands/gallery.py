"""``agent gallery``: a contact sheet of a persona's avatar, every basic emotion and the visemes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from agent.commands import common
from agent.errors import UserError

if TYPE_CHECKING:
    import numpy as np

EMOTIONS = ("neutral", "joy", "sadness", "surprise", "anger", "fear", "disgust")
TILE = 224
COLUMNS = 8


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gallery", help="write a contact sheet of a persona's avatar",
                       description="Render the persona's avatar showing each basic emotion and the "
                                   "visemes, labelled, into one PNG.")
    common(p)
    p.add_argument("--output", "-o", metavar="PATH.png", default="gallery.png")
    p.add_argument("--style", choices=("ada", "bruno", "kiko", "sol", "mira"),
                   help="draw this avatar style instead of the persona's")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from persona.config import get_persona

    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise UserError(f"--output {out}: the contact sheet is written as .png")
    if not out.parent.exists():
        raise UserError(f"--output {out}: no such folder {out.parent}")
    avatar = get_persona(args.persona, args.config).avatar
    if args.style:
        avatar = avatar.model_copy(update={"style": args.style, "accessory": None})
    sheet = contact_sheet(avatar, title=f"{args.persona} ({avatar.style})")
    write_png(out, sheet)
    print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


def tiles() -> list[tuple[str, "np.ndarray", tuple[float, float, float]]]:
    """(label, blendshape weights, head pose) for each tile: emotions, visemes, a turn, a blink."""
    import numpy as np

    from persona.emotion import Emotion
    from render.expression import blendshapes_from_aus, emotion_aus
    from render.face_state import weights_from
    from render.lipsync import VISEME_POSES, VISEMES

    out = []
    for label in EMOTIONS:
        aus = emotion_aus(Emotion.from_label(label), 1.0)
        out.append((label, blendshapes_from_aus(aus), (0.0, 0.0, 0.0)))
    out.append(("turn", np.zeros(52, np.float32), (0.08, 0.42, 0.06)))
    for v in VISEMES:
        out.append((f"viseme {v}", weights_from(VISEME_POSES[v]), (0.0, 0.0, 0.0)))
    out.append(("blink", weights_from({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}), (0.0, 0.0, 0.0)))
    return out


def contact_sheet(avatar: object, title: str = "", tile: int = TILE) -> "np.ndarray":
    """(H, W, 3) uint8 RGB: the labelled tiles on a grid."""
    import cv2
    import numpy as np

    from render.face_state import FaceState
    from render.renderer import make_renderer

    items = tiles()
    renderer = make_renderer(avatar, size=(512, 512))
    states = [FaceState(weights=w, head=h) for _, w, h in items]
    frames = renderer.render(states)
    rows = -(-len(items) // COLUMNS)
    head = 40 if title else 0
    sheet = np.full((head + rows * tile, COLUMNS * tile, 3), 250, np.uint8)
    if title:
        cv2.putText(sheet, title, (12, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (40, 40, 40), 2, cv2.LINE_AA)
    for i, ((label, _, _), frame) in enumerate(zip(items, frames)):
        small = cv2.resize(frame, (tile, tile), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, COLUMNS)
        y, x = head + r * tile, c * tile
        sheet[y:y + tile, x:x + tile] = small
        cv2.rectangle(sheet, (x, y + tile - 26), (x + tile - 1, y + tile - 1), (255, 255, 255), -1)
        cv2.putText(sheet, label, (x + 8, y + tile - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (30, 30, 30), 1,
                    cv2.LINE_AA)
    return sheet


def write_png(path: Path, rgb: "np.ndarray") -> None:
    import cv2

    if not cv2.imwrite(str(path), rgb[:, :, ::-1]):
        raise UserError(f"could not write {path}")
