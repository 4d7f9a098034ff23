"""``PhotoRenderer``: a portrait animated by warping it along its face mesh.

Per batch: channel weights (N, C) @ basis (C, V·2) move the vertices; a small 3-D turn of the
face vertices adds the head pose; the vertex motion is spread over a coarse grid through the
precomputed barycentric table (a gather and a weighted sum), inverted by fixed-point steps
(the mesh says where each photo point goes; the warp needs where each output pixel comes
from), upsampled, and the photo's region of interest is resampled with ``grid_sample``. The
mouth's inside and the closing lids are painted on top.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.core.face_state import INDEX, FaceState, stack
from render.batching import BatchSplitter
from render.photo import landmarks as L
from render.photo.mesh import build_mesh, squeeze
from render.photo.neutral import Neutralised, neutralise
from render.photo.portrait import Portrait, load_portrait
from render.photo.rig import (
    FACE_WIDTH_M,
    TRANSLATION_LIMIT,
    blendshape_basis,
    effective_weights,
    gaze_vector,
    head_motion,
)
from render.photo.synth import _gap, paint_lids, paint_mouth, palette

log = logging.getLogger(__name__)

INVERT_STEPS = 5
IRIS_TRAVEL = (0.1, 0.07)  # iris shift at full gaze, in eye distances (horizontal, vertical)
HALO_FOLLOW = 0.5  # share of the head's motion the ring around the face takes


class PhotoRenderer:
    """Renders ``FaceState`` batches on a portrait; see the module docstring."""

    def __init__(self, photo: Any, size: tuple[int, int] = (512, 512),
                 device: str | None = None, threads: int | None = None, face_index: int | None = None,
                 landmarker: Any | None = None, neutral: bool = True) -> None:
        """``photo``: a path (``PATH#N`` picks face N from the left), an RGB array, a loaded
        ``Portrait``, or a persona's avatar block whose ``photo`` is set. ``neutral``: take the
        portrait's own expression back first (``render.photo.neutral``)."""
        self.size = (int(size[0]), int(size[1]))
        if not isinstance(photo, (str, Path, np.ndarray, Portrait)):
            photo = photo.photo
        reader = landmarker
        if reader is None:
            from perception.face import FaceLandmarker

            reader = FaceLandmarker(video=False, num_faces=4)
        try:
            self._build(photo, device, threads, face_index, reader, neutral)
        finally:
            if landmarker is None:
                reader.close()

    def _build(self, photo: Any, device: str | None, threads: int | None, face_index: int | None,
               landmarker: Any, neutral: bool) -> None:
        import torch

        self.portrait = photo if isinstance(photo, Portrait) else load_portrait(
            photo, self.size, face_index=face_index, landmarker=landmarker)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._split = BatchSplitter(self.device.type, threads, "photo")
        p = self.portrait
        basis, frame = blendshape_basis(p.points)
        self.frame = frame
        self.iod = frame.scale
        self.axis_y = frame.ey
        self.mesh = m = build_mesh(p.points, self.size)
        n_vert = len(m.vertices)
        full = np.zeros((basis.shape[0], n_vert, 2), np.float32)
        full[:, :m.n_face] = basis
        self._basis = torch.from_numpy(full.reshape(basis.shape[0], -1)).to(self.device)
        self._tri = torch.from_numpy(m.tri_index).to(self.device)
        self._bary = torch.from_numpy(m.bary).to(self.device)
        self._points3 = np.concatenate([m.vertices, _smooth_depth(m.vertices, m.depth, m.n_face)[:, None]], axis=1)
        self._follow = np.zeros(n_vert, np.float32)
        self._follow[:m.n_face] = 1.0
        self._follow[m.halo] = HALO_FOLLOW
        face_w = float(np.ptp(p.points[list(L.FACE_OVAL), 0]))
        depth = float(np.median(self._points3[:m.n_face, 2])) + 0.55 * face_w
        self._pivot = np.array([m.centre[0], m.centre[1], depth])
        self._px_per_m = face_w / FACE_WIDTH_M
        self._iris = {s: torch.from_numpy(self._iris_field(s)).to(self.device) for s in L.SIDES}
        x0, y0, x1, y1 = m.roi
        gh, gw = m.grid_shape
        self._roi_image = torch.from_numpy(p.image[y0:y1, x0:x1]).to(self.device).permute(2, 0, 1).float()
        # output grid in grid_sample's normalised coordinates (align_corners=True)
        ys = torch.linspace(-1, 1, gh, device=self.device)
        xs = torch.linspace(-1, 1, gw, device=self.device)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        self._grid = torch.stack([gx, gy], dim=-1)[None]  # (1, gh, gw, 2)
        self._to_norm = torch.tensor([2.0 / max(1, x1 - x0 - 1), 2.0 / max(1, y1 - y0 - 1)], device=self.device)
        rys = torch.linspace(-1, 1, y1 - y0, device=self.device)
        rxs = torch.linspace(-1, 1, x1 - x0, device=self.device)
        ry, rx = torch.meshgrid(rys, rxs, indexing="ij")
        self._pixels = torch.stack([rx, ry], dim=-1)[None]
        self._own = np.zeros(len(p.blendshapes), np.float32)
        self._sealed = 0.0
        self._palette = palette(p.image, p.points[:, :2])
        self._rest_gap = _gap(p.points[:, :2], self.axis_y)
        log.info("photo renderer: %d vertices, %d triangles, roi %s on %s", n_vert, len(m.triangles),
                 m.roi, self.device)
        self.neutral: Neutralised | None = neutralise(self, landmarker, p.blendshapes) if neutral else None

    def _iris_field(self, side: str) -> np.ndarray:
        """How much each grid point moves with the iris: a blob around it, inside the eye."""
        import cv2

        m = self.mesh
        x0, y0, x1, y1 = m.roi
        gh, gw = m.grid_shape
        sx, sy = (gw - 1) / max(1, x1 - x0 - 1), (gh - 1) / max(1, y1 - y0 - 1)
        xy = self.portrait.points[:, :2]
        eye = np.concatenate([xy[list(L.EYE_UPPER[side])], xy[list(L.EYE_LOWER[side])][::-1]])
        g = np.stack([(eye[:, 0] - x0) * sx, (eye[:, 1] - y0) * sy], axis=1)
        mask = np.zeros((gh, gw), np.uint8)
        cv2.fillPoly(mask, [np.round(g * 16).astype(np.int32).reshape(-1, 1, 2)], 255, cv2.LINE_AA, 4)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.8).astype(np.float32) / 255.0
        c = xy[L.IRIS_CENTRE[side]]
        r = float(np.mean(np.hypot(*(xy[list(L.IRIS_RING[side])] - c).T)))
        X, Y = np.meshgrid(x0 + np.arange(gw) / sx, y0 + np.arange(gh) / sy)
        blob = np.exp(-((X - c[0]) ** 2 + (Y - c[1]) ** 2) / (2 * (1.3 * r) ** 2))
        return (blob * mask).astype(np.float32).reshape(-1)

    # ------------------------------------------------------------------ Renderer protocol

    def push_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        """The warp follows the FaceState stream only."""

    def photo_state(self) -> FaceState:
        """The state that shows the portrait's own expression (the rig counts from a neutral
        face, so a smiling portrait's rest state has its smile taken back); the photo itself
        when its lips are not sealed (``render.photo.neutral``)."""
        return FaceState(weights=self._own.copy())

    def set_own(self, own: np.ndarray) -> None:
        """The weights taken back from every frame: the portrait's own expression."""
        self._own = np.asarray(own, np.float32).copy()

    @property
    def sealed(self) -> float:
        """How far the portrait's own parted lips are closed in every frame (0..1)."""
        return self._sealed

    def set_sealed(self, sealed: float) -> None:
        self._sealed = float(sealed)

    def lips_apart(self) -> float:
        """The portrait's inner-lip gap, in eye distances."""
        return self._rest_gap / self.iod

    def squeeze(self, states: Sequence[FaceState]) -> np.ndarray:
        """(N,) the smallest area share of a skin triangle in each state's warp (1: none
        squeezed; below ``render.photo.neutral.SQUEEZE_LIMIT`` it looks smeared)."""
        return squeeze(self.mesh, self.vertex_positions(states))

    def vertex_positions(self, states: Sequence[FaceState]) -> np.ndarray:
        """(N, V, 2) where the mesh vertices go for each state, in output pixels."""
        return self.mesh.vertices[None] + self._motion(stack(list(states)))[0]

    def _motion(self, arrays: dict[str, np.ndarray]):
        import torch

        w = effective_weights(arrays["weights"], self._own, self._sealed)
        n = len(w)
        expr = (torch.from_numpy(w).to(self.device) @ self._basis).reshape(n, -1, 2).cpu().numpy()
        shift = np.clip(arrays["translation"][:, :2], -TRANSLATION_LIMIT, TRANSLATION_LIMIT)
        shift_px = shift * self._px_per_m * np.array([1.0, -1.0])
        moved = self._points3.copy()[None].repeat(n, axis=0)
        moved[..., :2] += expr
        head = np.stack([head_motion(moved[k], self._pivot, arrays["head"][k:k + 1], shift_px[k:k + 1])[0]
                         for k in range(n)])
        return expr + head * self._follow[None, :, None], w

    def render(self, states: Sequence[FaceState]) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB for a batch of states."""
        return self._split.render(states, self._render_batch)

    @property
    def workers(self) -> int:
        return self._split.workers

    def close(self) -> None:
        """Stop the worker threads (rendering after this runs in the caller's thread)."""
        self._split.close()

    def _render_batch(self, states: Sequence[FaceState]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        states = list(states)
        if not states:
            return np.zeros((0, self.size[1], self.size[0], 3), np.uint8)
        arrays = stack(states)
        motion, w = self._motion(arrays)
        n = len(states)
        m = self.mesh
        gh, gw = m.grid_shape
        with torch.no_grad():
            d = torch.from_numpy(motion).to(self.device)  # (N, V, 2) pixels
            dense = (d[:, self._tri] * self._bary[None, :, :, None]).sum(dim=2)  # (N, G, 2)
            for s in L.SIDES:
                g = gaze_vector(arrays["weights"], arrays["gaze"], s)
                shift = (g[:, :1] * IRIS_TRAVEL[0] * self.frame.ex
                         - g[:, 1:2] * IRIS_TRAVEL[1] * self.frame.ey) * self.iod
                dense = dense + self._iris[s][None, :, None] * torch.from_numpy(shift.astype(np.float32)).to(
                    self.device)[:, None, :]
            fwd = (dense * self._to_norm).reshape(n, gh, gw, 2).permute(0, 3, 1, 2)  # normalised
            back = fwd.permute(0, 2, 3, 1)
            for _ in range(INVERT_STEPS):  # where did the pixel now at q come from: p = q - D(p)
                src = self._grid - back
                back = F.grid_sample(fwd, src, mode="bilinear", padding_mode="border",
                                     align_corners=True).permute(0, 2, 3, 1)
            x0, y0, x1, y1 = m.roi
            up = F.interpolate(back.permute(0, 3, 1, 2), size=(y1 - y0, x1 - x0), mode="bilinear",
                               align_corners=True).permute(0, 2, 3, 1)
            image = self._roi_image[None].expand(n, -1, -1, -1)
            warped = F.grid_sample(image, self._pixels - up, mode="bilinear", padding_mode="border",
                                   align_corners=True)
            roi = warped.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        frames = np.repeat(self.portrait.image[None], n, axis=0)
        frames[:, y0:y1, x0:x1] = roi
        verts = m.vertices[None] + motion
        rest = m.vertices[:m.n_face]
        for k in range(n):
            xy = verts[k, :m.n_face].astype(np.float64)
            paint_mouth(frames[k], xy, self._rest_gap, self.iod, self.axis_y, self._palette)
            blink = {s: float(w[k, INDEX[f"eyeBlink{s}"]]) for s in L.SIDES}
            paint_lids(frames[k], xy, rest, blink, self.iod, self._palette)
        return frames


def _smooth_depth(xy: np.ndarray, z: np.ndarray, n_face: int) -> np.ndarray:
    """The face's depth as a smooth quadric fitted to the landmarks: the head turns as a rounded
    solid, and the nose's own relief (which would fold the cheek behind it, something a 2-D
    warp cannot show) is left out."""
    c = xy[:n_face].mean(axis=0)
    s = max(1.0, float(np.ptp(xy[:n_face, 0])))

    def design(p: np.ndarray) -> np.ndarray:
        x, y = ((p[:, 0] - c[0]) / s), ((p[:, 1] - c[1]) / s)
        return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)

    coef, *_ = np.linalg.lstsq(design(xy[:n_face]), z[:n_face], rcond=None)
    return (design(xy) @ coef).astype(np.float32)
