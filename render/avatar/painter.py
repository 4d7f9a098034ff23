"""The built-in avatar, drawn in torch with signed distances on a pixel grid.

Why it is fast enough for 60 fps on two CPU cores: the static layers (background, shoulders,
neck) are drawn once at full resolution; the head is drawn in a fixed window at half the
output resolution and upsampled; and each feature (eyes, brows, nose, mouth...) is evaluated
only in the pixel rows and columns its batch of frames can reach. A whole batch of frames is
one set of tensor operations.

Coordinates: ``y`` up, the canvas height spans [-1, 1]. Head-local coordinates undo the
frame's translation, scale and roll, so features are laid out as if the head faced front;
yaw and pitch move them over the head ellipsoid (see ``Rig.project``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from agent.core.face_state import FaceState
from render.avatar import sdf
from render.avatar.rig import SIGNS, Rig
from render.avatar.styles import Style
from render.batching import BatchSplitter

HEAD_Y = 0.04  # canvas height of the head centre
LIPS = 1.35  # lip thickness over the style's
ZOOM = 1.30  # canvas units per head unit
PIVOT = -0.35  # head-local height the head rolls about (the neck)
WINDOW = (-0.82, 0.82, -0.86, 1.0)  # canvas x0, x1, y0, y1 the head can reach
WHITE = (0.97, 0.96, 0.93)
TEETH = (0.96, 0.95, 0.89)
MOUTH = (0.30, 0.07, 0.09)
TONGUE = (0.86, 0.42, 0.45)
LASH = (0.10, 0.07, 0.07)
LID_RAISE = 0.6  # the upper lid's rise at eyeWide = 1, in eye heights
BROW_Y = 0.095  # head-local height of the brows' anchor above the eye centre
BROW_DROP = 0.06  # the inner brow's fall at browDown = 1 (head units)
BROW_GAP = 0.002  # skin left between a lowered brow and the upper lid


def _per_thread(name: str) -> property:
    """Per-batch drawing state kept per thread, so two threads can render at once."""

    def get(self: AvatarRenderer) -> Any:
        return getattr(self._local, name)

    def put(self: AvatarRenderer, value: Any) -> None:
        setattr(self._local, name, value)

    return property(get, put)


class AvatarRenderer:
    """Renders ``FaceState`` batches of one character to RGB frames (thread-safe)."""

    U = _per_thread("U")  # head-local coordinates of the window, (N, h, w)
    V = _per_thread("V")
    C = _per_thread("C")  # the canvas being painted, (N, 3, h, w)
    aa = _per_thread("aa")  # antialiasing width in head units
    _rig = _per_thread("rig")
    _head_d = _per_thread("head_d")

    def __init__(self, style: Style, size: tuple[int, int] = (512, 512), device: str | None = None,
                 threads: int | None = None, scale: float = 0.5) -> None:
        torch.set_flush_denormal(True)  # soft edges underflow; denormal maths is ~100x slower
        self._local = threading.local()
        self.style = style
        self.size = (int(size[0]), int(size[1]))
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._split = BatchSplitter(self.device.type, threads, "avatar")
        self.factor = max(1, round(1.0 / scale))
        width, height = self.size
        if width % self.factor or height % self.factor:
            self.factor = 1
        self.px_out = 2.0 / height
        self._static = self._draw_static()  # (H, W, 3) uint8
        self._setup_window()

    # ------------------------------------------------------------------ public API

    def push_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        """The drawn avatar follows the FaceState stream only; audio is for neural renderers."""

    def render(self, states: Sequence[FaceState]) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB for a batch of states."""
        return self._split.render(states, self._render_batch)

    def close(self) -> None:
        """Stop the worker threads (rendering after this runs in the caller's thread)."""
        self._split.close()

    def _render_batch(self, states: Sequence[FaceState]) -> np.ndarray:
        n = len(states)
        width, height = self.size
        out = np.empty((n, height, width, 3), dtype=np.uint8)
        if n == 0:
            return out
        out[:] = self._static
        crop = self._render_window(states)  # (N, 3, h, w) float
        if self.factor > 1:
            crop = F.interpolate(crop, scale_factor=self.factor, mode="bilinear", align_corners=False)
        u8 = crop.mul_(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        r0, c0 = self._win_r0 * self.factor, self._win_c0 * self.factor
        out[:, r0:r0 + u8.shape[1], c0:c0 + u8.shape[2]] = u8
        return out

    # ------------------------------------------------------------------ static layers

    def _grid(self, height: int, width: int) -> tuple[Tensor, Tensor]:
        """Pixel-centre coordinates, x of shape (1, 1, W) and y of shape (1, H, 1)."""
        aspect = width / height
        xs = (torch.arange(width, device=self.device, dtype=torch.float32) + 0.5) / width * 2 * aspect - aspect
        ys = 1.0 - (torch.arange(height, device=self.device, dtype=torch.float32) + 0.5) / height * 2
        return xs.view(1, 1, width), ys.view(1, height, 1)

    def _draw_static(self) -> np.ndarray:
        st = self.style
        width, height = self.size
        x, y = self._grid(height, width)
        aa = self.px_out
        bg = torch.tensor(st.background, device=self.device).view(3, 1, 1)
        img = bg * (1.04 - 0.10 * (1 - y) / 2 - 0.06 * x.abs())  # soft vignette
        img = img.expand(3, height, width).clone()
        shirt = torch.tensor(st.shirt, device=self.device).view(3, 1, 1)
        skin = torch.tensor(st.skin, device=self.device).view(3, 1, 1)
        d_body = sdf.ellipse(x, y + 1.32, 0.92, 0.62)
        neck = torch.maximum((x.abs() - 0.17), (y + 0.95).neg()).expand(1, height, width)
        neck = torch.maximum(neck, y - (HEAD_Y - 0.25))
        shade_neck = 0.72 + 0.18 * (x + 0.17) / 0.34
        img = torch.lerp(img, skin * shade_neck.clamp(0.6, 0.95), sdf.coverage(neck[0], aa))
        collar = sdf.ellipse(x, y + 0.69, 0.19, 0.10)
        body_shade = 0.88 + 0.12 * (-x / 0.9).clamp(-1, 1) - 0.05 * (y + 0.7).clamp(0, 1)
        img = torch.lerp(img, shirt * body_shade, sdf.coverage(torch.maximum(d_body, -collar), aa))
        img = img.clamp(0, 1).mul(255).add(0.5).to(torch.uint8)
        return img.permute(1, 2, 0).cpu().numpy()

    def _setup_window(self) -> None:
        """The fixed window (internal resolution) the head is drawn in, with its coordinates."""
        width, height = self.size
        f = self.factor
        hi, wi = height // f, width // f
        aspect = width / height
        x0, x1, y0, y1 = WINDOW
        c0 = max(0, int(math.floor((x0 + aspect) / (2 * aspect) * wi)))
        c1 = min(wi, int(math.ceil((x1 + aspect) / (2 * aspect) * wi)))
        r0 = max(0, int(math.floor((1 - y1) / 2 * hi)))
        r1 = min(hi, int(math.ceil((1 - y0) / 2 * hi)))
        self._win_r0, self._win_c0 = r0, c0
        xs, ys = self._grid(hi, wi)
        self._wx = xs[:, :, c0:c1]
        self._wy = ys[:, r0:r1, :]
        self.px = 2.0 / hi  # internal pixel size in canvas units
        static = torch.from_numpy(self._static).to(self.device).permute(2, 0, 1).float().div(255)
        if f > 1:
            static = F.avg_pool2d(static[None], f)[0]
        self._bg = static[:, r0:r1, c0:c1].contiguous()
        self._xs = (xs.view(-1)[c0:c1]).cpu().numpy()
        self._ys = (ys.view(-1)[r0:r1]).cpu().numpy()

    # ------------------------------------------------------------------ per-batch drawing

    def _render_window(self, states: Sequence[FaceState]) -> Tensor:
        rig = Rig(states)
        rig.scale = rig.scale * ZOOM
        self._rig = rig
        n = rig.n
        t = self._t
        # head-local coordinates: undo translation and scale, then the roll about the neck
        ox, oy, sc = t(rig.tx), t(rig.ty + HEAD_Y), t(rig.scale)
        cr, sr = t(np.cos(rig.roll)), t(np.sin(rig.roll))
        du = (self._wx - ox) / sc
        dv = (self._wy - oy) / sc - PIVOT
        self.U = cr * du - sr * dv
        self.V = sr * du + cr * dv + PIVOT
        self.aa = self.px / float(rig.scale.min())
        self.C = self._bg.unsqueeze(0).repeat(n, 1, 1, 1)
        self._hair_back()
        self._ears(front=False)
        self._head()
        covered = self.style.haircut in ("long", "bob")  # hair hangs over the ears
        if covered:
            self._ears(front=True)
        self._cheeks()
        if self.style.beard:
            self._beard()
        self._nose()
        self._eyes()
        self._brows()
        self._mouth()
        if self.style.accessory == "freckles":
            self._freckles()
        self._hair_front()
        if not covered:  # a turned head shows its near ear in front of short hair
            self._ears(front=True)
        if self.style.accessory == "glasses":
            self._glasses()
        if self.style.accessory == "headband":
            self._headband()
        canvas, self.C = self.C, None
        return canvas.clamp_(0.0, 1.0)

    # ------------------------------------------------------------------ helpers

    def _t(self, a: np.ndarray | float) -> Tensor:
        """Per-frame scalars as (N, 1, 1) tensors."""
        arr = np.asarray(a, dtype=np.float32) + np.zeros(self._rig.n, np.float32)
        return torch.from_numpy(arr).to(self.device).view(-1, 1, 1)

    def _colour(self, rgb: tuple[float, float, float] | Sequence[float], k: float = 1.0) -> Tensor:
        return torch.tensor([c * k for c in rgb], device=self.device, dtype=torch.float32).view(1, 3, 1, 1)

    def _region(self, cx: np.ndarray, cy: np.ndarray, ex: float, ey: float) -> tuple[slice, slice]:
        """The window rows/columns that hold a feature centred at head-local (cx, cy) with
        half-extents (ex, ey), over every frame of the batch."""
        rig = self._rig
        c, s = np.cos(rig.roll), np.sin(rig.roll)
        u, v = cx, cy - PIVOT
        x = (c * u + s * v) * rig.scale + rig.tx
        y = (-s * u + c * v + PIVOT) * rig.scale + rig.ty + HEAD_Y
        r = float(np.abs(rig.roll).max())
        pad_x = (ex + ey * r) * float(rig.scale.max()) + 2 * self.px
        pad_y = (ey + ex * r) * float(rig.scale.max()) + 2 * self.px
        xs, ys = self._xs, self._ys
        c0 = int(np.searchsorted(xs, float(x.min()) - pad_x))
        c1 = int(np.searchsorted(xs, float(x.max()) + pad_x))
        r0 = int(np.searchsorted(-ys, -(float(y.max()) + pad_y)))
        r1 = int(np.searchsorted(-ys, -(float(y.min()) - pad_y)))
        return slice(r0, max(r0 + 1, r1)), slice(c0, max(c0 + 1, c1))

    def _uv(self, reg: tuple[slice, slice]) -> tuple[Tensor, Tensor]:
        return self.U[:, reg[0], reg[1]], self.V[:, reg[0], reg[1]]

    def _paint(self, reg: tuple[slice, slice], alpha: Tensor, colour: Tensor) -> None:
        sub = self.C[:, :, reg[0], reg[1]]
        sub.lerp_(colour.expand_as(sub) if colour.dim() == 4 and colour.shape[0] == 1 else colour,
                  alpha.unsqueeze(1))

    def _full(self) -> tuple[slice, slice]:
        return slice(0, self.U.shape[1]), slice(0, self.U.shape[2])

    # ------------------------------------------------------------------ layers

    def _hair_back(self) -> None:
        st, rig, t = self.style, self._rig, self._t
        bx = t(-np.sin(rig.yaw) * 0.10)
        if st.haircut == "long":
            reg = self._region(np.zeros(rig.n), np.full(rig.n, -0.06), st.head_w + 0.12, 0.70)
            u, v = self._uv(reg)
            d = sdf.ellipse(u - bx, v + 0.02, st.head_w + 0.06, 0.66)
            d = torch.maximum(d, -(v + 0.50 - 0.06 * ((u - bx) / st.head_w) ** 2))
        elif st.haircut == "bob":
            reg = self._region(np.zeros(rig.n), np.full(rig.n, 0.0), st.head_w + 0.12, 0.58)
            u, v = self._uv(reg)
            d = sdf.ellipse(u - bx, v - 0.02, st.head_w + 0.075, 0.58)
            d = torch.maximum(d, -(v + 0.40 - 0.06 * (u - bx).abs()))
        elif st.haircut == "bun":
            reg = self._region(np.zeros(rig.n), np.full(rig.n, 0.34), st.head_w + 0.05, 0.46)
            u, v = self._uv(reg)
            d = sdf.circle(u - bx * 0.5, v - 0.565, 0.16)
            d = sdf.smin(d, sdf.ellipse(u - bx, v - 0.10, st.head_w + 0.02, 0.5), 0.05)
        else:
            return
        shade = 0.72 + 0.25 * (1 - ((u - bx) / (st.head_w + 0.1)) ** 2).clamp(0, 1)
        self._paint(reg, sdf.coverage(d, self.aa), self._colour(st.hair) * shade.unsqueeze(1) * 0.85)

    def _ears(self, front: bool) -> None:
        st, rig, t = self.style, self._rig, self._t
        for sg in SIGNS:
            phi = sg * (math.pi / 2 + 0.10) + rig.yaw
            ex = np.sin(phi) * st.head_w * 0.98 + np.sign(np.sin(phi)) * 0.02
            ez = np.cos(phi)
            ey = -0.03 + np.sin(rig.pitch) * 0.05
            wf = np.clip(ez * 5.0 + 0.5, 0.0, 1.0)
            weight = wf if front else 1.0 - wf
            if float(weight.max()) < 1e-3:
                continue
            reg = self._region(ex, ey - 0.03, 0.07, 0.12)
            u, v = self._uv(reg)
            lu, lv = u - t(ex), v - t(ey)
            rx = t(0.045 * (0.55 + 0.45 * np.abs(np.sin(phi))))
            d = sdf.ellipse(lu, lv, rx, 0.075)
            w = t(weight)
            self._paint(reg, sdf.coverage(d, self.aa) * w, self._colour(st.skin, 0.86))
            inner = sdf.ellipse(lu - t(-np.sign(np.sin(phi)) * 0.006), lv + 0.004, rx * 0.55, 0.05)
            self._paint(reg, sdf.coverage(inner, self.aa) * w * 0.6, self._colour(st.skin, 0.66))
            if st.accessory == "earrings":
                ring = sdf.circle(lu, lv + 0.10, 0.017)
                ring = torch.minimum(ring, sdf.segment(lu, lv, 0.0, -0.06, 0.0, -0.085) - 0.004)
                self._paint(reg, sdf.coverage(ring, self.aa) * w, self._colour(st.accent))
                glint = sdf.circle(lu + 0.005, lv + 0.095, 0.005)
                self._paint(reg, sdf.coverage(glint, self.aa) * w * 0.8, self._colour(WHITE))

    def _head(self) -> None:
        st, rig, t = self.style, self._rig, self._t
        jaw_open = rig("jawOpen")
        jaw_x = np.sin(rig.yaw) * 0.11 + 0.04 * (rig("jawLeft") - rig("jawRight"))
        puff = rig("cheekPuff")
        reg = self._region(np.zeros(rig.n), np.full(rig.n, -0.02), st.head_w + 0.08, 0.62)
        u, v = self._uv(reg)
        d = sdf.ellipse(u, v - 0.06, st.head_w, st.head_h)
        jy = -0.16 - 0.14 * jaw_open + 0.012 * rig("jawForward")
        jaw = sdf.ellipse(u - t(jaw_x), v - t(jy), t(st.head_w * st.jaw_w * (1 + 0.05 * puff)),
                          t(st.chin + 0.04 * jaw_open - 0.01 * rig("jawForward")))
        d = sdf.smin(d, jaw, 0.08)
        if float(puff.max()) > 0.01:
            for sg in SIGNS:
                p = rig.project(sg * 0.27, -0.20, head_w=st.head_w)
                cheek = sdf.circle(u - t(p.x), v - t(p.y), t(0.13 * puff + 1e-3))
                d = sdf.smin(d, cheek, 0.05)
        self._head_d = (reg, d)
        alpha = sdf.coverage(d, self.aa)
        nx = u / (st.head_w * 1.1)
        ny = (v + 0.05) / 0.62
        nz = (1.0 - nx * nx - ny * ny).clamp_min(0.0).sqrt()
        light = (-0.35 * nx + 0.40 * ny + 0.85 * nz).clamp_min(0.0)
        shade = 0.60 + 0.42 * light
        # a soft shadow under the chin line and a touch of rim darkening
        shade = shade * (1.0 - 0.10 * (1.0 + d / 0.05).clamp(0.0, 1.0))
        self._paint(reg, alpha, self._colour(st.skin) * shade.unsqueeze(1))

    def _cheeks(self) -> None:
        st, rig, t = self.style, self._rig, self._t
        for k, sg in enumerate(SIGNS):
            squint, smile = rig.side("cheekSquint", k), rig.side("mouthSmile", k)
            puff = rig("cheekPuff")
            p = rig.project(sg * 0.225, -0.12, head_w=st.head_w)
            cy = p.y + 0.035 * squint + 0.02 * smile
            reg = self._region(p.x, cy, 0.13, 0.13)
            u, v = self._uv(reg)
            lu, lv = (u - t(p.x)) / t(p.fx), v - t(cy)
            amount = st.blush * (0.7 + 0.7 * squint + 0.4 * smile + 0.6 * puff)
            r = t(0.08 * (1 + 0.5 * puff + 0.15 * squint))
            self._paint(reg, sdf.soft_disc(lu, lv, r) * t(np.clip(amount, 0, 0.8)),
                        self._colour((0.93, 0.42, 0.42)))
            # the raised cheek pad (AU6) and a puffed cheek catch the light
            hi = np.clip(0.22 * puff + 0.12 * squint + 0.06 * smile, 0, 0.4)
            self._paint(reg, sdf.soft_disc(lu + sg * 0.01, lv - 0.015, r * 0.7) * t(hi),
                        self._colour((1.0, 0.97, 0.92)))
            # the crease under the lower lid that a real (Duchenne) smile pushes up
            e = rig.project(sg * st.eye_gap, 0.0, head_w=st.head_w)
            ly = v - t(e.y - st.eye_h * 1.25 + 0.012 * squint)
            lx = (u - t(e.x)) / t(e.fx)
            crease = (ly - 0.35 * (lx / st.eye_w) ** 2 * st.eye_h).abs() - 0.0035
            crease = torch.maximum(crease, lx.abs() - st.eye_w * 0.85)
            self._paint(reg, sdf.coverage(crease, self.aa) * t(np.clip(0.55 * squint, 0, 0.6)),
                        self._colour(st.skin, 0.62))

    def _beard(self) -> None:
        st, rig, t = self.style, self._rig, self._t
        reg, d_head = self._head_d
        u, v = self._uv(reg)
        p = rig.project(0.0, -0.26, head_w=st.head_w)
        jaw = rig("jawOpen")
        jaw_x = t(np.sin(rig.yaw) * 0.11)
        inner = sdf.ellipse(u - jaw_x, v - t(0.0 - 0.05 * jaw), st.head_w * 0.86, t(0.40 + 0.03 * jaw))
        d = torch.maximum(torch.maximum(d_head + 0.004, -inner), v + 0.06)
        # the beard clears the mouth however wide it is drawn: corners hidden in the beard
        # leave a face reader (and a person) only the middle of a stretched mouth, a smile
        (cl, cr), (yl, yr), _ = self._mouth_corners()
        mouth_hole = sdf.ellipse(u - t(p.x + (cl + cr) / 2), v - t(p.y - 0.01 - 0.05 * jaw + (yl + yr) / 2),
                                 t((cr - cl) / 2 + 0.035), t(0.045 + 0.09 * jaw))
        d = torch.maximum(d, -mouth_hole)
        self._paint(reg, sdf.coverage(d, self.aa) * 0.92, self._colour(st.hair, 1.25))

    def _nose(self) -> None:
        st, rig, t = self.style, self._rig, self._t
        nz = st.nose
        sneer = 0.5 * (rig("noseSneerLeft") + rig("noseSneerRight"))
        p = rig.project(0.0, -0.11, 0.50, head_w=st.head_w)
        reg = self._region(p.x, p.y + 0.04, 0.09, 0.10)
        u, v = self._uv(reg)
        lu, lv = (u - t(p.x)) / t(p.fx), v - t(p.y)
        # the shadow side of the nose (light comes from the upper left) and the tip highlight
        self._paint(reg, sdf.soft_disc(lu - 0.028 * nz, lv - 0.035, 0.05 * nz) * 0.22,
                    self._colour(st.skin, 0.55))
        self._paint(reg, sdf.soft_disc(lu + 0.010, lv + 0.002, 0.024 * nz) * 0.30,
                    self._colour((1.0, 0.97, 0.93)))
        for k, sg in enumerate(SIGNS):
            s_k = rig.side("noseSneer", k)
            cx = t(sg * 0.026 * nz * (1 + 0.35 * s_k))
            cy = t(-0.015 * nz + 0.028 * s_k)
            nostril = sdf.ellipse(lu - cx, lv - cy, t(0.011 * nz * (1 + 0.35 * s_k)), 0.0065 * nz)
            self._paint(reg, sdf.coverage(nostril, self.aa) * 0.85, self._colour(st.skin, 0.38))
            wing = (sdf.circle(lu - cx * 1.15, lv - cy - 0.004, 0.021 * nz)).abs() - 0.0025
            wing = torch.maximum(wing, (lv - cy - 0.008) * 1.0)
            wing = torch.maximum(wing, -(lu - cx * 1.15) * sg - 0.004)
            self._paint(reg, sdf.coverage(wing, self.aa) * 0.45, self._colour(st.skin, 0.55))
        # the nose wrinkles of disgust (AU9)
        if float(sneer.max()) > 0.01:
            d: torch.Tensor | None = None
            for y in (0.055, 0.075, 0.095):
                line = (lv - y - 0.005 * torch.cos(lu * 110)).abs() - 0.0024
                line = torch.maximum(line, lu.abs() - 0.032)
                d = line if d is None else torch.minimum(d, line)
            assert d is not None
            self._paint(reg, sdf.coverage(d, self.aa) * t(np.clip(0.8 * sneer, 0, 0.8)),
                        self._colour(st.skin, 0.55))

    def _eyes(self) -> None:
        st, rig, t = self.style, self._rig, self._t
        for k, sg in enumerate(SIGNS):
            blink = rig.side("eyeBlink", k)
            wide, squint = rig.side("eyeWide", k), rig.side("eyeSquint", k)
            cheek = rig.side("cheekSquint", k)
            p = rig.project(sg * st.eye_gap, 0.0, head_w=st.head_w)
            vis = np.clip((p.z + 0.05) * 8.0, 0.0, 1.0)
            up = self._lid_top(k)
            cheek = np.clip(cheek + 0.5 * rig.side("noseSneer", k), 0, 1)
            # the lid tightener (AU7) raises the lower lid only (it is not AU43), and raises
            # all of it, its ends too, into a flatter, tense arc: a lower lid that only rose in
            # its middle looked (to a face reader too) like a narrower eye, not a tightened one
            lo = st.eye_h * 0.75 * (1 - 0.3 * squint - 0.55 * cheek)
            lift = 0.8 * st.eye_h * squint
            yu = up + (-lo - up) * blink
            reg = self._region(p.x, p.y, st.eye_w * 1.5, st.eye_h * 2.6)
            u, v = self._uv(reg)
            lx = (u - t(p.x)) / t(p.fx)
            ly = (v - t(p.y)) / t(p.fy) - st.eye_tilt * lx * sg / st.eye_w
            q = (1.0 - (lx / st.eye_w) ** 2).clamp_min(0.0)
            qs = q ** 0.8
            # the lid and socket: what shows when the eye closes
            yu_t, lo_t = t(yu), t(lo)
            lower_lid = -lo_t * qs + t(lift) * q ** 0.3
            sock = torch.maximum(ly - st.eye_h * 1.45 * qs, -t(np.minimum(st.eye_h * 0.9, lo + 0.004)) * qs
                                 + t(lift) * q ** 0.3 - ly)
            sock = torch.maximum(sock, lx.abs() - st.eye_w * 1.05)
            self._paint(reg, sdf.coverage(sock, self.aa) * t(vis * 0.9), self._colour(st.skin, 0.80))
            top, bottom = yu_t * qs, lower_lid
            d_open = torch.maximum(torch.maximum(ly - top, bottom - ly), lx.abs() - st.eye_w)
            opening = t(np.clip((yu + lo - lift) / (1.2 * self.aa), 0.0, 1.0) * vis)
            a_open = sdf.coverage(d_open, self.aa) * opening
            self._paint(reg, a_open, self._colour(WHITE) * (0.9 + 0.1 * ly.clamp(-0.05, 0.05).mul(20)
                                                              .add(1).mul(0.5)).unsqueeze(1))
            gh, gv = rig.gaze(k)
            ix, iy = t(gh * st.eye_w * 0.45), t(gv * st.eye_h * 0.55 + 0.1 * st.eye_h)
            ir = t(st.iris_r * st.eye_h * 1.4 * (1 - 0.1 * wide))
            di = sdf.circle(lx - ix, ly - iy, ir)
            iris_shade = (0.75 + 0.35 * ((iy - ly) / ir).clamp(-1, 1)).unsqueeze(1)
            self._paint(reg, sdf.coverage(di, self.aa) * a_open, self._colour(st.iris) * iris_shade)
            dp = sdf.circle(lx - ix, ly - iy, ir * t(0.46 + 0.08 * wide))
            self._paint(reg, sdf.coverage(dp, self.aa) * a_open, self._colour((0.05, 0.04, 0.04)))
            dh = sdf.circle(lx - ix + ir * 0.35, ly - iy - ir * 0.38, ir * 0.2)
            self._paint(reg, sdf.coverage(dh, self.aa) * a_open * 0.9, self._colour((1, 1, 1)))
            # the upper lid line (lashes), which closes down onto the lower lid in a blink
            thick = (0.0045 + 0.003 * st.lashes) * (0.45 + 0.55 * q.sqrt())
            lash = torch.maximum((ly - top).abs() - thick, lx.abs() - st.eye_w * 1.02)
            if st.lashes:
                wing = sdf.segment(lx * sg, ly, st.eye_w * 0.85, 0.0, st.eye_w * 1.18, 0.018) - 0.004
                lash = torch.minimum(lash, wing + (1 - t(vis)) * 1.0)
            self._paint(reg, sdf.coverage(lash, self.aa) * t(vis), self._colour(LASH))
            lower = torch.maximum((ly - bottom).abs() - 0.0022, lx.abs() - st.eye_w * 0.95)
            self._paint(reg, sdf.coverage(lower, self.aa) * t(vis * 0.35), self._colour(LASH))

    def _lid_top(self, k: int) -> np.ndarray:
        """Height of eye ``k``'s open upper lid above the eye centre, per frame (head units).

        The upper-lid raiser (AU5) lifts the lid by a share of the eye's own height, enough at
        full strength to bare the white above the iris: that is what shows a wide-open or
        glaring eye to a person, and the only thing a face reader reads as AU5 (a lid raised by
        a fixed amount hardly showed on large eyes)."""
        st, rig = self.style, self._rig
        return st.eye_h * (1 + 0.1 * rig("browInnerUp") + LID_RAISE * rig.side("eyeWide", k))

    def _brow_clear(self, k: int, x_in: np.ndarray, x_out: np.ndarray, y_out: np.ndarray,
                    arch: np.ndarray) -> np.ndarray:
        """The lowest inner-end height (brow-local, per frame) at which brow ``k`` clears the
        upper lid along the eye.

        A lowered brow rests on the upper lid; it does not cross the eye: a brow drawn over the
        eye hides the lid and reads (to a person, and to a face reader as a lid that droops)
        as sleepy or sad, not as the glare of anger. The brow stays a straight, tilted stroke
        that touches the lid's arc, and past the eye's inner corner nothing holds its inner end
        up, so lowered brows still meet in a V."""
        st = self.style
        xs = np.linspace(-st.eye_w, 0.9 * st.eye_w, 8, dtype=np.float32)[None, :]
        s = np.clip((xs - x_in[:, None]) / (x_out - x_in)[:, None], 0.0, 0.9)
        arc = np.clip(1.0 - (xs / st.eye_w) ** 2, 0.0, None) ** 0.8
        lid = self._lid_top(k)[:, None] * arc + st.eye_tilt * xs / st.eye_w - BROW_Y
        floor = lid + st.brow_t * (1.0 - 0.45 * s) + BROW_GAP
        need = (floor - y_out[:, None] * s - arch[:, None] * 4 * s * (1 - s)) / (1 - s)
        return need.max(axis=1)

    def _brows(self) -> None:
        st, rig, t = self.style, self._rig, self._t
        inner_up = rig("browInnerUp")
        colour = self._colour([0.75 * c for c in st.hair])
        for k, sg in enumerate(SIGNS):
            down, outer = rig.side("browDown", k), rig.side("browOuterUp", k)
            p = rig.project(sg * st.eye_gap, BROW_Y, head_w=st.head_w)
            reg = self._region(p.x, p.y + 0.02, st.eye_w * 1.6, 0.085)
            u, v = self._uv(reg)
            lx = (u - t(p.x)) / t(p.fx) * sg  # + is outward
            ly = v - t(p.y)
            sneer = rig.side("noseSneer", k)
            down = np.clip(down + 0.35 * sneer, 0, 1)
            x_in = -st.eye_w * 1.0 - 0.035 * down  # the corrugator draws the brows together
            x_out = st.eye_w * 1.25 - 0.015 * down
            y_out = -0.014 + 0.05 * outer - 0.02 * down + 0.006 * inner_up
            arch_k = st.brow_arch * (1 - 0.6 * down) + 0.02 * outer
            y_in = -0.010 + 0.065 * inner_up - BROW_DROP * down * (1 - 0.5 * inner_up) + 0.012 * outer
            y_in = np.maximum(y_in, self._brow_clear(k, x_in, x_out, y_out, arch_k))
            xin, xout, yin, yout, arch = t(x_in), t(x_out), t(y_in), t(y_out), t(arch_k)
            s = (lx - xin) / (xout - xin)
            sc = s.clamp(0.0, 1.0)
            yc = yin + (yout - yin) * sc + arch * 4 * sc * (1 - sc)
            dx = (s - sc) * (xout - xin)
            d = torch.sqrt(dx * dx + (ly - yc) ** 2) - st.brow_t * (1.0 - 0.45 * sc)
            self._paint(reg, sdf.coverage(d, self.aa), colour)
        # frown lines between the brows (AU4) and forehead lines (AU1+2)
        down = rig.mean("browDown")
        lift = np.clip(inner_up + 0.5 * rig.mean("browOuterUp"), 0, 1)
        if float(down.max()) > 0.02 or float(lift.max()) > 0.02:
            p = rig.project(0.0, 0.13, head_w=st.head_w)
            reg = self._region(p.x, p.y + 0.05, 0.16, 0.10)
            u, v = self._uv(reg)
            lu, lv = (u - t(p.x)) / t(p.fx), v - t(p.y)
            d = torch.minimum(sdf.segment(lu, lv, -0.018, -0.03, -0.012, 0.015),
                              sdf.segment(lu, lv, 0.018, -0.03, 0.012, 0.015)) - 0.003
            self._paint(reg, sdf.coverage(d, self.aa) * t(np.clip(0.7 * down, 0, 0.7)),
                        self._colour(st.skin, 0.58))
            d = None  # type: ignore[assignment]  # the wrinkles' union, built below
            for y in (0.07, 0.105):
                line = (lv - y - 0.012 * torch.cos(lu * 25)).abs() - 0.0025
                line = torch.maximum(line, lu.abs() - 0.11)
                d = line if d is None else torch.minimum(d, line)
            self._paint(reg, sdf.coverage(d, self.aa) * t(np.clip(0.55 * lift, 0, 0.55)),
                        self._colour(st.skin, 0.62))

    def _mouth_corners(self) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Per side (viewer's left, right): the mouth corner's x and y about the mouth centre,
        and how far the lips bend down toward it (head units, per frame)."""
        st, rig = self.style, self._rig
        jaw, press = rig("jawOpen"), rig.mean("mouthPress")
        pucker, funnel, shrug = rig("mouthPucker"), rig("mouthFunnel"), rig("mouthShrugLower")
        corners_x, corners_y, droop = [], [], []
        for k, sg in enumerate(SIGNS):
            smile, frown = rig.side("mouthSmile", k), rig.side("mouthFrown", k)
            stretch, dimple = rig.side("mouthStretch", k), rig.side("mouthDimple", k)
            # the depressor (AU15) pulls the corners down and out, the lips bending along their
            # length and most at the ends; the stretcher (AU20) pulls them back, a little down;
            # a dropped jaw draws them in (a jaw drop is a tall opening, not a wide one: a face
            # reader took a wide one for lips drawn back, not a jaw that dropped)
            corners_x.append(sg * st.mouth_w * (1 + 0.32 * smile + 0.8 * stretch + 0.14 * dimple
                                                 + 0.55 * frown - 0.45 * pucker * (1 - 0.75 * press)
                                                 - 0.34 * funnel - 0.15 * jaw + 0.07 * press))
            # the chin raiser (AU17) pushes the lower lip's middle up: the closed mouth arches
            corners_y.append(0.075 * smile - 0.08 * stretch + 0.008 * dimple - 0.045 * frown
                             + 0.012 * rig.side("mouthUpperUp", k) - 0.025 * jaw - 0.015 * shrug)
            droop.append(-0.025 * frown)
        return corners_x, corners_y, droop

    def _mouth(self) -> None:  # noqa: C901 - one place that maps every mouth blendshape
        st, rig, t = self.style, self._rig, self._t
        jaw, close = rig("jawOpen"), rig("mouthClose")
        pucker, funnel = rig("mouthPucker"), rig("mouthFunnel")
        roll_l, roll_u = rig("mouthRollLower"), rig("mouthRollUpper")
        shrug_l, shrug_u = rig("mouthShrugLower"), rig("mouthShrugUpper")
        tongue = rig("tongueOut")
        shift = 0.035 * (rig("mouthLeft") - rig("mouthRight")) + 0.02 * (rig("jawLeft") - rig("jawRight"))
        p = rig.project(shift, -0.255, head_w=st.head_w)
        press = rig.mean("mouthPress")
        corners_x, corners_y, droop = self._mouth_corners()
        smile_m, stretch_m = rig.mean("mouthSmile"), rig.mean("mouthStretch")
        lower, upper = rig.mean("mouthLowerDown"), rig.mean("mouthUpperUp")
        opening = 0.20 * jaw * (1 - close) + 0.05 * tongue
        # the jaw takes the lower lip down; the upper lip stays (a face reader takes an upper
        # lip that rises with the jaw for the upper-lip raiser)
        gap_u = 0.10 * opening + 0.05 * upper + 0.014 * funnel + 0.012 * smile_m
        gap_l = 0.90 * opening + 0.040 * lower + 0.016 * funnel + 0.016 * smile_m
        gap_u = gap_u * (1 - 0.8 * press)
        gap_l = gap_l * (1 - 0.8 * press)
        thin = 1 - 0.15 * stretch_m - 0.2 * smile_m - 0.3 * close * (1 - jaw)
        # lips fuller than the styles' numbers: thin closed lips read as pressed at rest, and
        # then a pressed mouth (anger) has nothing left to show. The presser (AU24) thins the
        # lower lip most (it is pushed up against the upper); pressed lips hardly pucker
        # (above). Lips pressed to a line read as a chin raiser to the face reader, not pressed.
        tu = LIPS * st.lip_u * np.clip(thin - 0.5 * press - 0.75 * roll_u + 0.5 * pucker + 0.3 * funnel
                                       + 0.3 * shrug_u, 0.12, 2)
        tl = LIPS * st.lip_l * np.clip(thin - 0.9 * press - 0.8 * roll_l + 0.5 * pucker + 0.3 * funnel
                                       + 0.35 * shrug_l, 0.12, 2)
        tl = tl + 0.035 * jaw * close
        base_y = 0.010 * shrug_l + 0.006 * shrug_u - 0.006 * rig("jawForward")
        cl, cr = corners_x
        hw = (cr - cl) / 2
        ext_y = 0.06 + 0.2 * jaw + 0.05 * tongue
        reg = self._region(p.x + (cl + cr) / 2, p.y - 0.03 - 0.08 * jaw, float(hw.max() * 1.4 + 0.03),
                           float(ext_y.max() + 0.06))
        u, v = self._uv(reg)
        fx = t(p.fx)
        lx = (u - t(p.x)) / fx
        ly = v - t(p.y + base_y)
        hw_t = t(hw)
        s = (lx - t((cl + cr) / 2)) / hw_t
        s2 = s * s
        sym, anti = t((corners_y[0] + corners_y[1]) / 2), t((corners_y[1] - corners_y[0]) / 2)
        s4 = s2 * s2
        dsym, danti = t((droop[0] + droop[1]) / 2), t((droop[1] - droop[0]) / 2)
        mid = sym * s2 + anti * s * s.abs() + dsym * s4 + danti * s4 * s.sign()
        ds = (s.abs() - 1.0) * hw_t
        one = (1.0 - s2).clamp_min(0.0)
        box = t(np.clip(0.6 * stretch_m + 0.5 * smile_m, 0, 1))
        prof = (1.0 - (s2 + (s2 * s2 - s2) * box).clamp(0, 1)).sqrt()  # rounder <-> squarer
        # a dropped jaw takes the lower lip down nearly to the corners (a square opening); the
        # upper lip stays where it is
        box_l = t(np.clip(0.6 * stretch_m + 0.5 * smile_m + 0.9 * jaw, 0, 1))
        prof_l = (1.0 - (s2 + (s2 * s2 - s2) * box_l).clamp(0, 1)).sqrt()
        lip_prof = one ** 0.6
        yui = mid + t(gap_u) * prof
        yli = mid - t(gap_l) * prof_l
        bow = (1.0 - (s / 0.18) ** 2).clamp_min(0.0) ** 2
        yuo = yui + t(tu) * lip_prof - t(tu * 0.28) * bow + 0.003
        ylo = yli - t(tl) * lip_prof - 0.002
        d_lips = torch.maximum(torch.maximum(ly - yuo, ylo - ly), ds)
        a_lips = sdf.coverage(d_lips, self.aa)
        lips = self._colour(st.lips)
        self._paint(reg, a_lips, lips)
        meet = (yui + yli) / 2
        self._paint(reg, a_lips * sdf.coverage(meet - ly, self.aa) * 0.6, self._colour(st.lips, 0.78))
        # lower-lip sheen
        self._paint(reg, sdf.soft_disc(s * hw_t * 0.6, ly - (yli - t(tl) * 0.45), t(tl * 1.2 + 0.01))
                    * a_lips * 0.28, self._colour((1, 0.95, 0.95)))
        # the inside of the mouth, teeth and tongue
        gap = gap_u + gap_l
        if float(gap.max()) * 1.0 > 0.2 * self.aa:
            d_in = torch.maximum(torch.maximum(ly - yui, yli - ly), ds + 0.002)
            a_in = sdf.coverage(d_in, self.aa) * t(np.clip(gap / (1.5 * self.aa), 0, 1))
            self._paint(reg, a_in, self._colour(MOUTH))
            ty = -gap_l - 0.014 - 0.06 * tongue
            dt = sdf.ellipse(lx - t((cl + cr) / 2), ly - t(ty), t(hw * (0.6 - 0.15 * tongue)),
                             t(0.032 + 0.05 * tongue))
            a_t = sdf.coverage(dt, self.aa) * a_in
            self._paint(reg, a_t, self._colour(TONGUE))
            sx = s.abs() * hw_t
            teeth_u = torch.maximum((yui - 0.026 - 0.02 * t(roll_l)) - ly, sx - hw_t * 0.8)
            self._paint(reg, sdf.coverage(teeth_u, self.aa) * a_in, self._colour(TEETH))
            teeth_l = torch.maximum(ly - (yli + 0.014), sx - hw_t * 0.6)
            self._paint(reg, sdf.coverage(teeth_l, self.aa) * a_in * t(np.clip(jaw * 3 - 0.3, 0, 1) * 0.9),
                        self._colour(TEETH, 0.93))
            if float(tongue.max()) > 0.01:  # out over the lower lip and teeth
                reach = t(0.11 * tongue)  # how far past the lower lip the tongue shows
                out = t(np.clip(tongue * 4, 0, 1)) * sdf.coverage(ly - (yli + 0.01), self.aa) \
                    * sdf.coverage((yli - reach) - ly, self.aa)
                a_t = sdf.coverage(dt, self.aa) * out
                self._paint(reg, a_t, self._colour(TONGUE))
                groove = torch.maximum((lx - t((cl + cr) / 2)).abs() - 0.002, ly - t(ty + 0.012))
                self._paint(reg, sdf.coverage(groove, self.aa) * a_t * 0.4, self._colour(TONGUE, 0.7))
        # the line where closed lips meet, and the mouth corners (dimples, AU14)
        closed = t(np.clip(1 - gap / 0.012, 0, 1))
        line = torch.maximum((ly - meet).abs() - 0.0032, ds)
        self._paint(reg, sdf.coverage(line, self.aa) * closed * 0.85, self._colour(st.lips, 0.45))
        for k, sg in enumerate(SIGNS):
            dimple = rig.side("mouthDimple", k)
            frown = rig.side("mouthFrown", k)
            cx, cy = corners_x[k], corners_y[k]
            dc = sdf.segment(lx, ly, t(cx + sg * 0.004), t(cy + 0.008), t(cx + sg * 0.012),
                             t(cy - 0.010 - 0.012 * dimple)) - 0.0028
            self._paint(reg, sdf.coverage(dc, self.aa) * t(0.35 + 0.5 * dimple), self._colour(st.skin, 0.55))
            dm = sdf.segment(lx, ly, t(cx + sg * 0.006), t(cy - 0.01), t(cx + sg * 0.016), t(cy - 0.06)) - 0.003
            self._paint(reg, sdf.coverage(dm, self.aa) * t(np.clip(0.6 * frown, 0, 0.6)),
                        self._colour(st.skin, 0.6))
            # smile lines from the nose wing to beyond the mouth corner (and for a sneer)
            smile, sneer_k = rig.side("mouthSmile", k), rig.side("noseSneer", k)
            nl = sdf.segment(lx, ly, t(sg * 0.062), t(0.125 + 0.015 * sneer_k),
                             t(cx + sg * 0.035), t(cy - 0.01)) - 0.0032
            amount = np.clip(0.45 * smile + 0.45 * sneer_k + 0.3 * rig.side("mouthUpperUp", k)
                             + 0.2 * rig.side("cheekSquint", k), 0, 0.6)
            self._paint(reg, sdf.coverage(nl, self.aa) * t(amount), self._colour(st.skin, 0.62))
        # chin boss of a pushed-up lower lip (AU17)
        chin = sdf.soft_disc(lx - t((cl + cr) / 2), ly - (t(-gap_l - tl) - 0.045), 0.045)
        self._paint(reg, chin * t(np.clip(0.35 * shrug_l, 0, 0.35)), self._colour(st.skin, 0.7))
        if st.beard:
            # the moustache thins toward the corners and stops short of them: a face reader
            # (and a person) finds the corners of a mouth by the lips' ends
            taper = (1.0 - s2).clamp_min(0.0).sqrt()
            must = torch.maximum(torch.maximum(ly - (yuo + 0.008 + 0.022 * taper), yuo + 0.003 - ly), ds + 0.006)
            self._paint(reg, sdf.coverage(must, self.aa) * 0.95, self._colour(st.hair, 1.2))

    def _freckles(self) -> None:
        st, rig, t = self.style, self._rig, self._t
        dots = ((0.10, -0.07), (0.135, -0.095), (0.165, -0.065), (0.12, -0.125), (0.19, -0.10),
                (0.085, -0.105), (0.155, -0.135))
        for sg in SIGNS:
            p = rig.project(sg * 0.14, -0.10, head_w=st.head_w)
            reg = self._region(p.x, p.y, 0.08, 0.06)
            u, v = self._uv(reg)
            d = None
            for dx, dy in dots:
                q = rig.project(sg * dx, dy, head_w=st.head_w)
                c = sdf.circle(u - t(q.x), v - t(q.y), 0.0055)
                d = c if d is None else torch.minimum(d, c)
            assert d is not None
            self._paint(reg, sdf.coverage(d, self.aa) * 0.5, self._colour((0.62, 0.36, 0.24)))

    def _hair_front(self) -> None:
        st, rig, t = self.style, self._rig, self._t
        fs = t(np.sin(rig.yaw) * 0.22)
        ps = t(np.sin(rig.pitch) * 0.15)
        reg = self._region(np.zeros(rig.n), np.full(rig.n, 0.15), st.head_w + 0.08, 0.52)
        u, v = self._uv(reg)
        cap = sdf.ellipse(u - fs * 0.15, v - 0.075, st.head_w + 0.03, st.head_h + 0.035)
        fu, fv = u - fs, v - ps
        cut = st.haircut
        if cut == "long":
            window = sdf.ellipse(fu - 0.02, fv + 0.22, st.head_w * 1.0, 0.56)
            window = torch.maximum(window, fv - (0.24 + 0.25 * fu.clamp(-0.3, 0.3)))
        elif cut == "bob":
            window = sdf.ellipse(fu, fv + 0.2, st.head_w * 0.86, 0.55)
            window = torch.maximum(window, fv - 0.215 - 0.008 * torch.cos(fu * 60))
        elif cut == "bun":
            window = sdf.ellipse(fu, fv + 0.13, st.head_w * 0.9, 0.44)
            part = (fu + 0.03).abs() - 0.005
            window = torch.minimum(window, torch.maximum(part, -(fv - 0.2)))
        elif cut == "crop":
            window = sdf.ellipse(fu, fv + 0.10, st.head_w * 1.02, 0.40)
        else:  # buzz
            window = sdf.ellipse(fu, fv + 0.02, st.head_w * 1.12, 0.35)
        d = torch.maximum(cap, -window)
        if cut in ("crop", "buzz"):  # short hair stops at the temples
            d = torch.maximum(d, -(v - 0.0))
        alpha = sdf.coverage(d, self.aa) * (0.8 if cut == "buzz" else 1.0)
        shade = 0.75 + 0.3 * (-(u + 0.1) * 1.2 + (v - 0.2) * 1.5).clamp(-0.5, 0.8)
        self._paint(reg, alpha, self._colour(st.hair) * shade.unsqueeze(1))
        sheen = sdf.soft_disc((u + 0.12) * 0.7, v - 0.42, 0.16)
        self._paint(reg, alpha * sheen * (0.12 if cut != "buzz" else 0.05), self._colour((1, 1, 1)))

    def _glasses(self) -> None:
        st, rig, t = self.style, self._rig, self._t
        colour = self._colour(st.accent)
        rims = []
        for sg in SIGNS:
            p = rig.project(sg * st.eye_gap, 0.0, 0.46, head_w=st.head_w)
            rims.append(p)
            reg = self._region(p.x, p.y, 0.12, 0.08)
            u, v = self._uv(reg)
            lx, ly = (u - t(p.x)) / t(p.fx), v - t(p.y) + 0.005
            qx = (lx.abs() - 0.068).clamp_min(0)
            qy = (ly.abs() - 0.030).clamp_min(0)
            box = torch.sqrt(qx * qx + qy * qy) - 0.028
            self._paint(reg, sdf.coverage(box, self.aa) * 0.10, self._colour((0.85, 0.92, 1.0)))
            ring = box.abs() - 0.004  # a fine rim: a heavy one hides the brows from a face reader
            self._paint(reg, sdf.coverage(ring, self.aa), colour)
        a, b = rims
        reg = self._region((a.x + b.x) / 2, a.y, float(np.abs(b.x - a.x).max() / 2), 0.03)
        u, v = self._uv(reg)
        bridge = sdf.segment(u, v, t(a.x + 0.09 * a.fx), t(a.y + 0.015), t(b.x - 0.09 * b.fx),
                             t(b.y + 0.015)) - 0.005
        self._paint(reg, sdf.coverage(bridge, self.aa), colour)

    def _headband(self) -> None:
        st, rig, t = self.style, self._rig, self._t
        ps = t(np.sin(rig.pitch) * 0.12)
        reg = self._region(np.zeros(rig.n), np.full(rig.n, 0.36), st.head_w + 0.06, 0.12)
        u, v = self._uv(reg)
        cap = sdf.ellipse(u, v - 0.075, st.head_w + 0.04, st.head_h + 0.045)
        centre = 0.31 + 0.10 * (u / st.head_w) ** 2 + ps
        band = torch.maximum(cap, (v - centre).abs() - 0.035)
        self._paint(reg, sdf.coverage(band, self.aa), self._colour(st.accent)
                    * (0.8 + 0.25 * (1 - (u / st.head_w) ** 2).clamp(0, 1)).unsqueeze(1))
        stripe = torch.maximum(cap + 0.01, (v - centre).abs() - 0.006)
        self._paint(reg, sdf.coverage(stripe, self.aa) * 0.8, self._colour((1, 1, 1)))
