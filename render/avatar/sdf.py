"""Signed distances and coverage on a pixel grid (negative inside), in torch.

Every shape is a distance so that one ``coverage`` call antialiases it over about a pixel.
"""

from __future__ import annotations

import torch
from torch import Tensor


def coverage(d: Tensor, aa: float) -> Tensor:
    """Fraction of a pixel of size ``aa`` inside the shape: a smoothstep across the edge."""
    t = (0.5 - d / aa).clamp_(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def ellipse(x: Tensor, y: Tensor, rx: Tensor | float, ry: Tensor | float) -> Tensor:
    """Approximate distance to an axis-aligned ellipse centred at the origin (exact on circles)."""
    k0 = torch.sqrt((x / rx) ** 2 + (y / ry) ** 2)
    k1 = torch.sqrt((x / (rx * rx)) ** 2 + (y / (ry * ry)) ** 2).clamp_min(1e-6)
    return k0 * (k0 - 1.0) / k1


def circle(x: Tensor, y: Tensor, r: Tensor | float) -> Tensor:
    return torch.sqrt(x * x + y * y) - r


def smin(a: Tensor, b: Tensor, k: float) -> Tensor:
    """Smooth union: blends two shapes over a width ``k`` instead of a crease."""
    h = (0.5 + 0.5 * (b - a) / k).clamp(0.0, 1.0)
    return torch.lerp(b, a, h) - k * h * (1.0 - h)


def segment(x: Tensor, y: Tensor, ax: Tensor | float, ay: Tensor | float,
            bx: Tensor | float, by: Tensor | float) -> Tensor:
    """Distance to the segment a-b (subtract a radius for a capsule)."""
    px, py = x - ax, y - ay
    dx, dy = bx - ax, by - ay
    h = ((px * dx + py * dy) / (dx * dx + dy * dy + 1e-9)).clamp(0.0, 1.0)
    return torch.sqrt((px - dx * h) ** 2 + (py - dy * h) ** 2)


def soft_disc(x: Tensor, y: Tensor, r: Tensor | float) -> Tensor:
    """A blurry disc (blush, shadows): 1 at the centre falling to 0 at radius ``r``."""
    t = (1.0 - (x * x + y * y) / (r * r)).clamp(0.0, 1.0)
    return t * t
