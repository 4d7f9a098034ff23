"""Splitting a batch of frames across worker threads, shared by the CPU renderers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from render.face_state import FaceState

CHUNK = 8  # frames per sub-batch on the CPU: bigger batches fall out of the cache


def render_in_parts(states: Sequence[FaceState], render_batch: Callable[[Sequence[FaceState]], np.ndarray],
                    pool: ThreadPoolExecutor | None, workers: int, cpu: bool) -> np.ndarray:
    """``render_batch`` over ``states`` in sub-batches of at most ``CHUNK`` frames on the CPU
    (one call on a GPU): the caller's thread renders every ``workers``-th part while the pool
    renders the others, all at once; the frames come back in order."""
    states = list(states)
    n = len(states)
    step = max(1, min(-(-n // workers), CHUNK)) if cpu else max(1, n)
    parts = [states[k:k + step] for k in range(0, n, step)]
    if len(parts) < 2:
        return render_batch(states)
    if pool is None:
        return np.concatenate([render_batch(p) for p in parts])
    futures = {k: pool.submit(render_batch, p) for k, p in enumerate(parts) if k % workers}
    mine = {k: render_batch(parts[k]) for k in range(0, len(parts), workers)}
    return np.concatenate([mine[k] if k in mine else futures[k].result() for k in range(len(parts))])
