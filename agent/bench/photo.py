"""Photo-avatar timings for ``agent bench render``: building the renderer from a portrait
(detection + mesh) and frames per second at 512×512 in batches, with talking-face states
(every viseme, blinks, head motion, gaze) so the mouth and lids are painted as in a clip."""

from __future__ import annotations

import time

import numpy as np

from agent.bench.report import BenchOptions, Timing

BATCH = 16


def talking_states(n: int, seed: int = 0) -> list:
    """``n`` frames of a face that talks, blinks and moves its head (deterministic)."""
    from agent.core.affect import vad3
    from agent.core.face_state import INDEX, FaceState
    from render.lipsync import POSES

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        w = POSES[k % len(POSES)].copy()
        if k % 40 in (20, 21, 22):
            w[INDEX["eyeBlinkLeft"]] = w[INDEX["eyeBlinkRight"]] = (1.0, 0.8, 0.4)[k % 40 - 20]
        head = vad3(0.08 * np.sin(k / 15.0 + np.array([0.0, 1.0, 2.0])))
        gx, gy = rng.normal(0, 0.05, 2).tolist()
        out.append(FaceState(t=k / 30, weights=w, head=head, gaze=(gx, gy),
                             speaking=True))
    return out


def bench_photo(opts: BenchOptions) -> list[Timing]:
    import skimage.data

    from render.photo import PhotoRenderer

    portrait = np.ascontiguousarray(skimage.data.astronaut())
    t0 = time.perf_counter()
    renderer = PhotoRenderer(portrait, size=(512, 512))
    setup = time.perf_counter() - t0
    batches = 2 if opts.quick else 12
    states = talking_states(BATCH * batches, opts.seed)
    renderer.render(states[:BATCH])  # warm up
    per_frame, fps = [], []
    for b in range(batches):
        chunk = states[b * BATCH:(b + 1) * BATCH]
        t = time.perf_counter()
        renderer.render(chunk)
        dt = time.perf_counter() - t
        per_frame.append(dt / len(chunk) * 1000.0)
        fps.append(len(chunk) / dt)
    renderer.close()
    where = f"{renderer.device.type}, {renderer.workers} thread(s)"
    return [Timing("photo avatar setup (detect + mesh)", [setup], "s"),
            Timing(f"photo avatar 512x512 frame ({where}, batch {BATCH})", per_frame, "ms"),
            Timing(f"photo avatar 512x512 fps ({where}, batch {BATCH})", fps, "fps")]
