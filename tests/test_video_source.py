"""Video sources: latest-wins (a slow consumer never builds a backlog), lock-step for offline
files, timestamps, pacing on an injected clock, and one-line errors."""

from __future__ import annotations

import asyncio
import threading

import face_fixtures as F
import numpy as np
import pytest

from agent.core.errors import DeviceUnavailable, UserError
from perception.video_source import CameraSource, FileVideoSource, ImageSource, LatestFrameSource, video_rate


def _counting_reader(n: int, produced: threading.Event, release: threading.Event):
    """Produces ``n`` tiny frames as fast as it can, then blocks until released, then ends."""
    count = 0

    def read():
        nonlocal count
        if count == n:
            produced.set()
            release.wait(5)
            return None
        count += 1
        return np.full((2, 2, 3), count - 1, np.uint8), (count - 1) / 30

    return read


async def test_slow_consumer_gets_the_newest_frame_and_the_rest_are_counted_as_dropped(no_leaked_tasks):
    produced, release = threading.Event(), threading.Event()
    src = LatestFrameSource(_counting_reader(100, produced, release), name="fake")
    src.start()
    assert await asyncio.to_thread(produced.wait, 5)
    frame = await src.recv()
    assert frame.index == 99 and frame.image[0, 0, 0] == 99 and frame.t == pytest.approx(99 / 30)
    assert src.dropped == 99 and src.delivered == 1
    release.set()
    assert await src.recv() is None  # nothing queued behind the newest frame: no backlog
    await src.aclose()


async def test_lock_step_source_delivers_every_frame_in_order(no_leaked_tasks):
    produced, release = threading.Event(), threading.Event()
    release.set()
    src = LatestFrameSource(_counting_reader(20, produced, release), wait_for_consumer=True)
    got = []
    while (frame := await src.recv()) is not None:
        got.append(frame.index)
    assert got == list(range(20)) and src.dropped == 0
    await src.aclose()


async def test_close_wakes_a_waiting_consumer(no_leaked_tasks):
    block = threading.Event()
    src = LatestFrameSource(lambda: (block.wait(5), None)[1], name="idle")
    waiter = asyncio.ensure_future(src.recv())
    await asyncio.sleep(0)
    src.close()
    assert await asyncio.wait_for(waiter, 5) is None
    block.set()
    await src.aclose()


async def test_reader_errors_reach_the_consumer(no_leaked_tasks):
    def broken():
        raise UserError("camera unplugged")

    src = LatestFrameSource(broken)
    with pytest.raises(UserError, match="unplugged"):
        while await src.recv() is not None:
            pass
    await src.aclose()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    img = F.scene([(F.face_tile(F.astronaut(), F.ASTRONAUT_FACE, 0.4), 320, 240, 240)])
    frames = [np.roll(img, 4 * i, axis=1) for i in range(12)]
    return F.write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", frames, fps=10)


async def test_file_source_reads_every_frame_with_its_timestamp(clip, no_leaked_tasks):
    src = FileVideoSource(clip, realtime=False)
    frames = []
    while (f := await src.recv()) is not None:
        frames.append(f)
    await src.aclose()
    assert len(frames) == 12 and src.dropped == 0
    assert frames[0].image.shape == (480, 640, 3) and frames[0].image.dtype == np.uint8
    assert [round(f.t, 3) for f in frames] == [round(i / 10, 3) for i in range(12)]
    assert video_rate(clip) == pytest.approx(10.0)


def test_realtime_file_waits_on_the_injected_clock(clip):
    now = [100.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(round(s, 3))
        now[0] += s

    src = FileVideoSource(clip, realtime=True, clock=lambda: now[0], sleep=sleep)
    got = []
    while (f := src.recv_blocking(5)) is not None:
        got.append(f.t)
    src.close()
    # each frame waits for its own presentation time (0.1 s apart), never for the consumer
    assert sleeps and all(s == pytest.approx(0.1, abs=1e-3) for s in sleeps)
    assert now[0] == pytest.approx(100.0 + 1.1, abs=1e-3)


def test_image_source_repeats_a_still():
    src = ImageSource(F.astronaut(), repeat=3, fps=10)
    ts = []
    while (f := src.recv_blocking(5)) is not None:
        ts.append(f.t)
        assert f.image.shape == (512, 512, 3)
    assert ts == [0.0, 0.1, 0.2]


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="no such video file"):
        FileVideoSource(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(UserError, match="not a video file"):
        FileVideoSource(bad)
    with pytest.raises(UserError, match="no such image"):
        ImageSource(tmp_path / "missing.png")


def test_a_missing_camera_names_the_fix():
    with pytest.raises(DeviceUnavailable, match=r"no camera at index 57.*--camera N.*--input-video"):
        CameraSource(57)


async def test_the_reader_thread_releases_the_device_once(no_leaked_tasks):
    released: list[str] = []
    produced, release = threading.Event(), threading.Event()
    src = LatestFrameSource(_counting_reader(3, produced, release),
                            close=lambda: released.append(threading.current_thread().name))
    src.start()
    assert await asyncio.to_thread(produced.wait, 5)
    src.close()
    release.set()
    await src.aclose()
    assert released == ["video-reader"]
