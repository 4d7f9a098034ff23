"""The fault matrix's devices (issue 18), each through a real session on real devices: speakers
and a microphone on a private PulseAudio server whose sink is taken away and brought back
mid-session, and an OpenCV camera whose frames stop. Slow: they run on the wall clock."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time

import numpy as np
import pulse_server
import pytest
from faults import playable, start

from agent.core import events as ev
from agent.testing import FakeASR, FakeVAD

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    yield from pulse_server.serve(tmp_path_factory)


@pytest.fixture
def sink(pulse):
    pulse.plug()
    yield pulse
    pulse.plug()  # whatever the test did, the next one finds the sink


def lines(caplog, *words):
    return [r.getMessage() for r in caplog.records if all(w in r.getMessage() for w in words)]


async def until(predicate, timeout: float, step: float = 0.02) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(step)


async def test_the_speakers_go_away_mid_reply_and_come_back(sink, tmp_path, caplog):
    """The output device disappears while the agent speaks: one line, the reply goes on at the
    pace it would have played (the mouth and the recording keep time), and the next reply plays
    on the device again once it is back."""
    from agent.audio_out import DeviceAudioOutput
    from agent.turn_state import TurnState

    out = DeviceAudioOutput(device=pulse_server.SINK, retry_s=0.5)
    words = "one two three four five six seven eight nine ten eleven twelve"
    caplog.set_level(logging.WARNING)
    run = await start(tmp_path, reply=[words.capitalize() + "."], output=out)
    try:
        await run.bus.publish(ev.UserText(text="Count to twelve."))
        await until(lambda: out.position() > 0.3 * out.sample_rate, 15)  # the device plays
        assert run.session.turn.state is TurnState.SPEAKING
        sink.unplug()
        await until(lambda: run.session.report.replies, 15)
        assert lines(caplog, "audio output 'agent_mic' went away") != []
        ended = [e for e in run.seen if isinstance(e, ev.UtteranceEnded)]
        assert not ended[0].interrupted and ended[0].heard_text == words.capitalize() + "."
        assert run.session.report.replies[0] == words.capitalize() + "."
        sink.plug()
        await asyncio.sleep(0.6)  # the output looks for the device at most every retry_s
        played_before = out.position()
        # a fresh null-sink stream here pulls in bursts at first: give it time
        assert await run.turn("Again, please.", timeout=45) == words.capitalize() + "."
        assert lines(caplog, "audio output 'agent_mic' is back") != []
        assert out._lost is None and out._delivered > 0  # samples reached the device again
        assert out.position() - played_before >= 2.9 * out.sample_rate
    finally:
        await run.stop()
    assert not run.runner.exception()
    frames, audio_s = playable(tmp_path / "session.mp4")
    assert audio_s >= 5.5 and frames >= 5.5 * 30  # both replies, on the session clock


async def test_the_microphone_goes_away_and_comes_back(sink, tmp_path, caplog):
    """The microphone disappears: one line, the session goes on (typed turns still work), and
    once it is back the user's speech is heard and answered."""
    import soundfile as sf

    from agent.turn_taking import TurnTaker
    from perception.audio_source import MicrophoneSource
    from perception.hearing import Hearing

    caplog.set_level(logging.WARNING)
    mic = MicrophoneSource(retry_s=0.5, stall_s=1.5)
    run = await start(tmp_path, reply=["I heard you."], hearing=None)
    bus = run.bus
    hearing = Hearing(bus, mic, FakeASR("can you hear me now"), FakeVAD(), None)
    hearing.listener = TurnTaker(bus, hearing, None, None)
    task = asyncio.ensure_future(hearing.run())
    try:
        await until(lambda: mic.buffer._captured > 8000, 15)  # frames flow from the device
        sink.unplug()
        await until(lambda: lines(caplog, "microphone 'default' went away"), 10)
        assert await run.turn("Typing while the microphone is gone.") == "I heard you."
        sink.plug()
        await until(lambda: lines(caplog, "microphone 'default' is back"), 10)
        voice = tmp_path / "voice.wav"
        sf.write(voice, np.concatenate([0.3 * np.sin(np.arange(24000) * 2 * np.pi * 220 / 16000),
                                        np.zeros(24000)]).astype(np.float32), 16000)
        before = len(run.session.report.replies)
        deadline = time.monotonic() + 20
        while len(run.session.report.replies) == before and time.monotonic() < deadline:
            await asyncio.to_thread(sink.play(voice).wait, 10)  # the null sink may take a while to carry sound
            await asyncio.sleep(1.5)
        heard = [e for e in run.seen if isinstance(e, ev.EndOfTurn)]
        assert heard and heard[-1].text == "can you hear me now"
        await until(lambda: len(run.session.report.replies) > before, 10)
        assert run.session.report.replies[-1] == "I heard you."
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await mic.aclose()
        await run.stop()
    assert playable(tmp_path / "session.mp4")[0] > 0


async def test_the_camera_is_unplugged_and_plugged_back(tmp_path, caplog):
    """The camera stops delivering frames: one line, the conversation goes on without seeing,
    and when the camera is back the agent sees the user again. The "camera" is OpenCV reading a
    real clip of a face (a device path or URL opens the same way); unplugged, the clip is gone."""
    import face_fixtures as F

    from perception.seeing import FaceAnalyzer, Seeing
    from perception.video_source import CameraSource

    clip = tmp_path / "camera.mp4"
    F.write_clip(clip, [F.astronaut()] * 30, fps=30)
    saved = tmp_path / "saved.mp4"
    shutil.copy(clip, saved)
    caplog.set_level(logging.WARNING)
    camera = CameraSource(str(clip), width=None, height=None, retry_s=0.2)
    clip.unlink()  # opened, it plays to its end; reopened, it is not there: an unplugged camera
    run = await start(tmp_path, reply=["I see."])
    seeing = Seeing(run.bus, camera, FaceAnalyzer())
    task = asyncio.ensure_future(seeing.run())
    try:
        await until(lambda: seeing.frames > 0, 20)
        assert seeing.latest_analysis().user is not None  # the face on the camera is seen
        await until(lambda: lines(caplog, "stopped delivering frames"), 10)
        seen_before = seeing.frames
        assert await run.turn("Can you still hear me?") == "I see."
        shutil.copy(saved, clip)
        await until(lambda: lines(caplog, "is back"), 10)
        await until(lambda: seeing.frames > seen_before, 20)
        assert seeing.latest_analysis().user is not None  # seen again
    finally:
        await seeing.aclose()
        await asyncio.gather(task, return_exceptions=True)
        await run.stop()
    assert len(lines(caplog, "stopped delivering frames")) >= 1
    assert playable(tmp_path / "session.mp4")[0] > 0
