"""``agent mirror``: the persona's avatar wears the user's own expression and head pose.

The camera (or ``--input-video``) goes through the same face analysis as a session; the user's
blendshapes, head pose and eye gaze become the ``FaceState`` the renderer draws, and the frames
go to the virtual camera (a privacy-preserving webcam for calls), a preview window or a file.
Nothing of the camera image leaves the machine; only the avatar does.

The output shows what a camera would see (video-call apps mirror the self-view themselves);
the preview window is mirrored like every webcam self-view unless ``--no-mirror-window``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.commands import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mirror", help="drive the persona's avatar with your own face (virtual camera)",
        description="Mirror mode: the avatar copies your expression, head pose and gaze, live "
                    "from the camera (or from --input-video), to the virtual camera, a window "
                    "(--window) or a video file (--output).")
    common(p)
    p.add_argument("--input-video", type=Path, metavar="FILE", help="read the face from a video file")
    p.add_argument("--output", type=Path, metavar="OUT.mp4", help="write the avatar video to a file")
    p.add_argument("--window", action="store_true", help="show a preview window")
    p.add_argument("--no-mirror-window", action="store_true",
                   help="show the window as the camera sees it, not as a mirror")
    p.add_argument("--camera", type=int, default=0, help="camera index (default 0)")
    p.add_argument("--fps", type=float, help="output frame rate (default: the input video's, or 30)")
    p.add_argument("--size", type=int, default=512, help="output frame width and height (default 512)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds of input")
    p.add_argument("--face-model", metavar="PATH", help="another face_landmarker.task")
    p.add_argument("--renderer", metavar="NAME",
                   help="a renderer another package registers (entry point embodied_agent.renderers)")
    p.set_defaults(func=run)


class MirrorDriver:
    """Frame → ``FaceState`` for the avatar: the user's face, lightly smoothed (a time constant
    of ``tau`` seconds against landmark jitter), easing back to rest when no face is seen."""

    def __init__(self, analyzer: Any, tau: float = 0.05, rest_after: float = 0.5) -> None:
        from agent.core.face_state import FaceState

        self.analyzer, self.tau, self.rest_after = analyzer, tau, rest_after
        self.rest = FaceState()
        self.state = self.rest
        self.last_seen: float | None = None
        self.frames = self.seen = 0

    def step(self, image: Any, t: float) -> Any:
        from perception.seeing import face_state

        self.frames += 1
        analysis = self.analyzer.analyze(image, t)
        if analysis.user is not None:
            self.seen += 1
            self.last_seen = t
            target = face_state(analysis.user, t)
            self.state = target if self.frames == 1 else _blend(self.state, target, t, self.tau)
        elif self.last_seen is None or t - self.last_seen > self.rest_after:
            self.state = _blend(self.state, replace(self.rest, t=t), t, 0.3)
        else:
            self.state = replace(self.state, t=t)
        return self.state


def _blend(old: Any, new: Any, t: float, tau: float) -> Any:
    import numpy as np

    dt = max(0.0, t - old.t)
    a = 1.0 - math.exp(-dt / tau) if tau > 0 else 1.0
    mix = lambda x, y: tuple(float((1 - a) * u + a * v) for u, v in zip(x, y))  # noqa: E731
    return replace(new, t=t, weights=((1 - a) * old.weights + a * new.weights).astype(np.float32),
                   head=mix(old.head, new.head), gaze=mix(old.gaze, new.gaze),
                   translation=mix(old.translation, new.translation))


def run(args: argparse.Namespace) -> int:
    from agent.core.errors import UserError
    from persona.config import get_persona

    persona = get_persona(args.persona, args.config)
    if args.input_video is not None and not args.input_video.is_file():
        raise UserError(f"{args.input_video}: no such video file")
    if args.size < 64 or args.size % 2:
        raise UserError(f"--size {args.size}: use an even number of pixels, 64 or more")
    if args.fps is None:
        from perception.video_source import video_rate

        args.fps = video_rate(args.input_video) if args.input_video is not None else 30.0
    if args.fps <= 0:
        raise UserError(f"--fps {args.fps}: must be positive")
    return asyncio.run(mirror(persona, args))


async def mirror(persona: Any, args: argparse.Namespace) -> int:
    from agent.core.bus import EventBus
    from agent.pipeline import PipelineOptions, build_pipeline

    size = (args.size, args.size)
    opts = PipelineOptions(mode="mirror", input_video=args.input_video, camera=args.camera,
                           output=args.output, window=args.window, mirror_window=not args.no_mirror_window,
                           virtual_camera=args.output is None and not args.window, fps=args.fps,
                           size=size, face_model=args.face_model, renderer=args.renderer)
    pipeline = await build_pipeline(persona, opts, EventBus(), progress=lambda text: None)
    seeing, renderer = pipeline.seeing, pipeline.renderer
    assert seeing is not None and renderer is not None
    driver = MirrorDriver(seeing.analyzer)
    try:
        print(f"agent: mirroring you onto {persona.display_name}'s avatar (Ctrl-C stops)",
              file=sys.stderr, flush=True)
        t0: float | None = None
        spent = 0.0
        while (frame := await seeing.source.recv()) is not None:
            t0 = frame.t if t0 is None else t0
            t = frame.t - t0
            if args.seconds is not None and t > args.seconds:
                break
            start = time.perf_counter()
            await asyncio.to_thread(_show, driver, renderer, pipeline.live_sinks, frame.image, t)
            spent += time.perf_counter() - start
        if driver.frames:
            print(f"agent: {driver.frames} frames, a face in {100 * driver.seen / driver.frames:.0f}%, "
                  f"{1000 * spent / driver.frames:.1f} ms/frame, {getattr(seeing.source, 'dropped', 0)} camera "
                  f"frames skipped", file=sys.stderr)
        if args.output is not None:
            print(f"agent: wrote {args.output}", file=sys.stderr)
    finally:
        await pipeline.aclose()
    return 0


def _show(driver: MirrorDriver, renderer: Any, sinks: list[Any], image: Any, t: float) -> None:
    """One camera frame onto the avatar and out (a worker thread: analysis, render, encode)."""
    state = driver.step(image, t)
    frame = renderer.render([state])[0]
    for sink in sinks:
        sink.write(frame, t)
