"""Splitting a batch of frames across worker threads, shared by the torch renderers."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from agent.core.face_state import FaceState

CHUNK = 8  # frames per sub-batch on the CPU: bigger batches fall out of the cache


class BatchSplitter:
    """On the CPU a batch is split across ``threads`` worker threads, each running torch
    single-threaded: OpenMP's intra-op threads spin at barriers and collapse (10x slower
    measured) when other processes share the cores; independent sub-batches do not. On a GPU
    the whole batch is one call. Creating one on the CPU sets torch to one thread per process."""

    def __init__(self, device_type: str, threads: int | None, name: str) -> None:
        import torch

        self.cpu = device_type == "cpu"
        self.workers = 1
        if self.cpu:
            self.workers = max(1, int(threads) if threads else min(2, os.cpu_count() or 1))
            torch.set_num_threads(1)
        self._pool = ThreadPoolExecutor(self.workers - 1, name) if self.workers > 1 else None

    def render(self, states: Sequence[FaceState],
               render_batch: Callable[[Sequence[FaceState]], np.ndarray]) -> np.ndarray:
        """``render_batch`` over ``states`` in sub-batches of at most ``CHUNK`` frames: the
        caller's thread renders every ``workers``-th part while the pool renders the others,
        all at once; the frames come back in order."""
        states = list(states)
        n = len(states)
        step = max(1, min(-(-n // self.workers), CHUNK)) if self.cpu else max(1, n)
        parts = [states[k:k + step] for k in range(0, n, step)]
        if len(parts) < 2:
            return render_batch(states)
        if self._pool is None:
            return np.concatenate([render_batch(p) for p in parts])
        futures = {k: self._pool.submit(render_batch, p) for k, p in enumerate(parts) if k % self.workers}
        mine = {k: render_batch(parts[k]) for k in range(0, len(parts), self.workers)}
        return np.concatenate([mine[k] if k in mine else futures[k].result() for k in range(len(parts))])

    def close(self) -> None:
        """Stop the worker threads (rendering after this runs in the caller's thread)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
