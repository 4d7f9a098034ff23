"""Audio output: the played-sample clock, bounded playback, cancellation that reports what was
heard — on a virtual clock (fast), and on a real PortAudio stream into a PulseAudio null sink."""

import asyncio
import time

import numpy as np
import pulse_server
import pytest

from agent.audio_out import DeviceAudioOutput, VirtualClockOutput, check_virtual_mic
from agent.core.errors import DeviceUnavailable
from agent.core.speech import SpeechChunk

SR = 22050


def tone(seconds, sr=SR, hz=220.0):
    t = np.arange(int(seconds * sr)) / sr
    return SpeechChunk((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), sr)


class FakeTime:
    def __init__(self):
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self):
        return self.t

    async def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


async def test_offline_output_plays_at_once_and_keeps_the_audio():
    out = VirtualClockOutput(SR)
    a, b = tone(0.5), tone(0.25, hz=440)
    await out.play(a)
    await out.play(b)
    assert out.position() == len(a.audio) + len(b.audio)
    assert out.clock() == pytest.approx(0.75, abs=1 / SR)
    np.testing.assert_array_equal(out.audio(), np.concatenate([a.audio, b.audio]))


async def test_realtime_clock_follows_time_and_idles_between_utterances():
    ft = FakeTime()
    out = VirtualClockOutput(SR, realtime=True, now=ft.now, sleep=ft.sleep)
    await out.play(tone(1.0))
    assert out.position() == 0
    ft.t = 0.4
    assert out.position() == int(0.4 * SR)
    ft.t = 3.0  # long after the end: the clock stops at the last sample
    assert out.clock() == pytest.approx(1.0)
    out.start_utterance()
    await out.play(tone(0.5))  # an idle output starts playing now, not back at 1.0 s
    ft.t = 3.2
    assert out.heard() == int(0.2 * SR)
    assert out.clock() == pytest.approx(1.2, abs=1 / SR)


async def test_play_is_bounded_the_producer_waits():
    ft = FakeTime()
    out = VirtualClockOutput(SR, realtime=True, now=ft.now, sleep=ft.sleep, buffer_s=0.5)
    await out.play(tone(1.0))
    await out.play(tone(1.0))  # 1 s queued > 0.5 s of room: waits until 0.5 s has played
    assert ft.t == pytest.approx(0.5, abs=1e-6)
    assert out.position() == int(0.5 * SR)
    await out.drain()
    assert ft.t == pytest.approx(2.0, abs=1e-6)


async def test_cancel_stops_the_clock_and_reports_what_was_heard():
    ft = FakeTime()
    out = VirtualClockOutput(SR, realtime=True, now=ft.now, sleep=ft.sleep, buffer_s=0.5)
    out.start_utterance()
    await out.play(tone(1.0))
    waiting = asyncio.create_task(out.play(tone(1.0)))  # the producer waits for room
    await asyncio.sleep(0)
    ft.t = 0.3
    heard = out.cancel()
    assert heard == int(0.3 * SR)
    await waiting  # the waiting chunk belonged to the cancelled utterance: dropped
    ft.t = 5.0
    assert out.position() == heard  # sound stopped at the cancel (latency 0 on a virtual clock)
    assert out.cancel_latency == 0.0
    assert len(out.audio()) == heard
    out.start_utterance()
    await out.play(tone(0.1))
    ft.t = 6.0
    assert out.heard() == int(0.1 * SR) and out.position() == heard + int(0.1 * SR)


async def test_other_sample_rates_are_resampled():
    out = VirtualClockOutput(SR)
    await out.play(tone(1.0, sr=16000))
    assert abs(out.position() - SR) <= 2


# ------------------------------------------------------------------ a real device


@pytest.fixture(scope="module")
def null_sink(tmp_path_factory):
    yield from pulse_server.serve(tmp_path_factory)


@pytest.mark.slow
def test_check_virtual_mic_sees_the_null_sink(null_sink):
    ok, line = check_virtual_mic()
    assert ok and "agent_mic" in line


@pytest.mark.slow
def test_a_missing_device_is_one_line():
    pytest.importorskip("sounddevice")
    with pytest.raises(DeviceUnavailable, match="no audio output device 'no-such-speaker'"):
        DeviceAudioOutput(device="no-such-speaker")


@pytest.mark.slow
async def test_device_clock_and_cancel_within_50ms(null_sink):
    try:
        out = DeviceAudioOutput(device="agent_mic")
    except DeviceUnavailable as e:
        pytest.skip(str(e))
    try:
        out.start_utterance()
        playing = asyncio.create_task(out.play(tone(5.0)))
        deadline = time.monotonic() + 10  # a null sink takes ~2 s to start pulling samples
        while out.clock() < 0.3 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert out.clock() >= 0.3, "the device never played"
        c0, t0 = out.clock(), time.monotonic()
        await asyncio.sleep(0.3)
        advanced = out.clock() - c0
        assert advanced == pytest.approx(time.monotonic() - t0, abs=0.06)  # the clock is real time
        heard = out.cancel()
        at_cancel = out.clock()
        assert abs(heard / SR - at_cancel) < 0.02
        await asyncio.wait_for(playing, 1.0)
        await asyncio.sleep(0.3)
        assert out.cancel_latency is not None and out.cancel_latency < 0.050
        assert out.clock() - at_cancel < 0.050  # nothing more was played after the fade
    finally:
        await out.aclose()
