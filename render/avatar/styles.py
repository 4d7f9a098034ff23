"""The built-in characters: shape and colour numbers the painter reads.

Geometry is in head units (the head is about 0.9 wide); colours are linear-ish sRGB in [0, 1].
A persona's ``avatar`` block overrides skin, hair and eye colours and the accessory.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from agent.core.errors import UserError

Rgb = tuple[float, float, float]
HairCut = Literal["long", "crop", "bob", "buzz", "bun"]
Accessory = Literal["none", "glasses", "earrings", "headband", "freckles"]


def hex_rgb(value: str) -> Rgb:
    v = value.lstrip("#")
    if len(v) != 6:
        raise UserError(f"colour {value!r} is not #rrggbb (e.g. #c68642)")
    return (int(v[0:2], 16) / 255.0, int(v[2:4], 16) / 255.0, int(v[4:6], 16) / 255.0)


@dataclass(frozen=True)
class Style:
    name: str
    skin: Rgb
    hair: Rgb
    iris: Rgb
    lips: Rgb
    shirt: Rgb
    background: Rgb
    haircut: HairCut
    accessory: Accessory = "none"
    accent: Rgb = (0.85, 0.25, 0.3)  # headband / earring / glasses frame colour
    head_w: float = 0.44  # half width of the cranium
    head_h: float = 0.50  # half height of the cranium
    jaw_w: float = 0.86  # jaw half width as a fraction of head_w
    chin: float = 0.33  # jaw half height (longer: pointier, longer face)
    eye_w: float = 0.075  # half width of the eye opening
    eye_h: float = 0.040  # half height of the upper opening
    eye_gap: float = 0.175  # eye centre distance from the midline
    eye_tilt: float = 0.0  # outer corner lift
    iris_r: float = 0.80  # iris radius as a fraction of eye_h * 1.4
    lashes: bool = False
    brow_t: float = 0.014  # brow half thickness
    brow_arch: float = 0.02
    nose: float = 1.0  # nose size
    mouth_w: float = 0.105  # half width of the mouth at rest
    lip_u: float = 0.018
    lip_l: float = 0.024
    blush: float = 0.18
    beard: bool = False


STYLES: dict[str, Style] = {
    "ada": Style("ada", skin=(0.96, 0.80, 0.69), hair=(0.42, 0.24, 0.13), iris=(0.30, 0.48, 0.30),
                 lips=(0.80, 0.40, 0.42), shirt=(0.25, 0.42, 0.62), background=(0.87, 0.90, 0.93),
                 haircut="long", accessory="glasses", accent=(0.18, 0.16, 0.20),
                 head_w=0.42, chin=0.34, jaw_w=0.80, lashes=True, eye_tilt=0.006,
                 brow_t=0.013, mouth_w=0.115, lip_u=0.021, lip_l=0.029),
    "bruno": Style("bruno", skin=(0.78, 0.55, 0.38), hair=(0.13, 0.10, 0.08), iris=(0.33, 0.22, 0.12),
                   lips=(0.66, 0.38, 0.33), shirt=(0.80, 0.35, 0.20), background=(0.90, 0.88, 0.82),
                   haircut="crop", accessory="headband", accent=(0.90, 0.20, 0.25),
                   head_w=0.46, head_h=0.49, chin=0.33, jaw_w=0.95, eye_w=0.082, eye_h=0.040,
                   brow_t=0.021, brow_arch=0.008, nose=1.2, mouth_w=0.13, lip_u=0.017,
                   lip_l=0.024, blush=0.08),
    "kiko": Style("kiko", skin=(0.99, 0.86, 0.76), hair=(0.16, 0.16, 0.22), iris=(0.25, 0.18, 0.12),
                  lips=(0.88, 0.47, 0.52), shirt=(0.95, 0.78, 0.30), background=(0.86, 0.92, 0.88),
                  haircut="bob", accessory="freckles", accent=(0.70, 0.38, 0.25),
                  head_w=0.44, head_h=0.50, chin=0.29, jaw_w=0.82, eye_w=0.092, eye_h=0.058,
                  eye_gap=0.185, iris_r=0.82, lashes=True, brow_t=0.012, nose=0.8, mouth_w=0.115,
                  lip_u=0.018, lip_l=0.025, blush=0.30),
    "sol": Style("sol", skin=(0.55, 0.38, 0.27), hair=(0.10, 0.08, 0.07), iris=(0.20, 0.13, 0.08),
                 lips=(0.50, 0.30, 0.27), shirt=(0.22, 0.24, 0.28), background=(0.84, 0.86, 0.90),
                 haircut="buzz", accessory="none", accent=(0.85, 0.70, 0.30),
                 head_w=0.45, head_h=0.50, chin=0.36, jaw_w=0.93, eye_w=0.082, eye_h=0.038,
                 eye_tilt=-0.004, brow_t=0.020, brow_arch=0.006, nose=1.25, mouth_w=0.125,
                 lip_u=0.020, lip_l=0.027, blush=0.0, beard=True),
    "mira": Style("mira", skin=(0.90, 0.70, 0.55), hair=(0.55, 0.20, 0.12), iris=(0.35, 0.45, 0.60),
                  lips=(0.76, 0.33, 0.38), shirt=(0.42, 0.62, 0.52), background=(0.93, 0.89, 0.90),
                  haircut="bun", accessory="earrings", accent=(0.95, 0.78, 0.30),
                  head_w=0.43, chin=0.32, jaw_w=0.84, lashes=True, eye_tilt=0.008, brow_t=0.014,
                  mouth_w=0.115, lip_u=0.022, lip_l=0.029, blush=0.22),
}


def resolve(avatar: object) -> Style:
    """The style a persona's ``avatar`` block asks for, with its colour overrides applied."""
    name = getattr(avatar, "style", "ada")
    if name not in STYLES:
        raise UserError(f"unknown avatar style {name!r}; choose one of {', '.join(STYLES)}")
    style = STYLES[name]
    changes: dict[str, object] = {}
    for key, attr in (("skin", "skin"), ("hair", "hair"), ("eyes", "iris")):
        value = getattr(avatar, key, None)
        if value:
            changes[attr] = hex_rgb(value)
    background = getattr(avatar, "background", None)
    if background and background.lower() != "#dfe6ee":  # the persona default keeps the style's own
        changes["background"] = hex_rgb(background)
    accessory = getattr(avatar, "accessory", None)
    if accessory is not None:
        changes["accessory"] = accessory
    return replace(style, **changes)  # type: ignore[arg-type]  # keys are Style fields, values checked above
