"""The seeing stage: a video in, ``UserPresence`` and ``AffectEstimated(source="face")`` out,
the user's face as a ``FaceState`` for mirror mode, speech state from the bus, clean shutdown."""

from __future__ import annotations

import face_fixtures as F
import numpy as np
import pytest

from agent.core import events as ev
from agent.core.bus import EventBus
from agent.core.errors import DeviceUnavailable
from agent.core.face_state import FaceState, weights_from
from perception.seeing import FaceAnalysis, FaceAnalyzer, Seeing, build_seeing, mirrored
from perception.video_source import FileVideoSource, ImageSource


def drain(sub) -> list[ev.Event]:
    out = []
    while (e := sub.channel.get_nowait()) is not None:
        out.append(e)
    return out


# ------------------------------------------------------------------ fast: with a fake analyser


class FakeAnalyzer:
    """No model: reports no face, records the speech flag it was given."""

    def __init__(self) -> None:
        self.speech: list[bool] = []
        self.closed = False

    def analyze(self, image, t, speech_active=False):
        self.speech.append(speech_active)
        return FaceAnalysis(t, (), None)

    def close(self):
        self.closed = True


async def test_speech_events_reach_the_active_face_choice(no_leaked_tasks):
    bus = EventBus()
    analyzer = FakeAnalyzer()
    seeing = Seeing(bus, ImageSource(F.canvas(), repeat=1), analyzer)
    await bus.publish(ev.UserSpeechStarted())
    assert seeing.speech_active
    await seeing.run()
    await bus.publish(ev.UserSpeechEnded())
    assert not seeing.speech_active and analyzer.speech == [True]
    await seeing.aclose()
    assert analyzer.closed and seeing.latest_face_state() is None


class FlakyAnalyzer(FakeAnalyzer):
    def analyze(self, image, t, speech_active=False):
        if t < 0.25:
            raise RuntimeError("odd frame")
        return super().analyze(image, t, speech_active)


async def test_a_frame_the_analyser_fails_on_is_skipped_not_fatal(no_leaked_tasks):
    seeing = Seeing(EventBus(), ImageSource(F.canvas(), repeat=5, fps=10), FlakyAnalyzer())
    seeing.max_errors = 3
    await seeing.run()
    assert seeing.frames == 2  # t = 0.3, 0.4
    broken = Seeing(EventBus(), ImageSource(F.canvas(), repeat=5, fps=10), FlakyAnalyzer())
    broken.max_errors = 1
    with pytest.raises(RuntimeError):
        await broken.run()
    await seeing.aclose()
    await broken.aclose()


def test_mirrored_swaps_sides_and_turns():
    s = FaceState(weights=weights_from({"eyeBlinkLeft": 1.0, "mouthSmileRight": 0.5, "jawLeft": 0.3,
                                        "browInnerUp": 0.4}),
                  head=(0.1, 0.2, 0.3), gaze=(0.1, -0.1), translation=(0.02, 0.0, 0.0))
    m = mirrored(s)
    assert m["eyeBlinkRight"] == 1.0 and m["eyeBlinkLeft"] == 0.0
    assert m["mouthSmileLeft"] == 0.5 and m["jawRight"] == pytest.approx(0.3) and m["browInnerUp"] == pytest.approx(0.4)
    assert m.head == (0.1, -0.2, -0.3) and m.gaze == (-0.1, -0.1) and m.translation[0] == -0.02
    assert np.array_equal(mirrored(m).weights, s.weights)


def test_a_missing_camera_is_device_unavailable():
    with pytest.raises(DeviceUnavailable):
        build_seeing(EventBus(), camera=57)


# ------------------------------------------------------------------ slow: the real pipeline


@pytest.fixture(scope="module")
def analyzer_factory():
    made = []

    def make():
        a = FaceAnalyzer(video=True)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


@pytest.fixture(scope="module")
def arrive_and_leave_clip(tmp_path_factory):
    face = F.scene([(F.face_tile(F.astronaut(), F.ASTRONAUT_FACE, 0.4), 320, 240, 280)])
    frames = [F.canvas()] * 5 + [face] * 12 + [F.canvas()] * 20  # 10 fps: 0.5 s, 1.2 s, 2 s
    return F.write_clip(tmp_path_factory.mktemp("seeing") / "arrive_leave.mp4", frames, fps=10)


@pytest.mark.slow
async def test_arrival_affect_and_departure_are_published(arrive_and_leave_clip, analyzer_factory, no_leaked_tasks):
    bus = EventBus()
    sub = bus.subscribe("test", ev.UserPresence, ev.AffectEstimated, maxsize=256)
    seeing = Seeing(bus, FileVideoSource(arrive_and_leave_clip), analyzer_factory())
    await seeing.run()
    await seeing.source.aclose()
    events = drain(sub)
    presence = [e for e in events if isinstance(e, ev.UserPresence)]
    affect = [e for e in events if isinstance(e, ev.AffectEstimated)]
    assert [p.present for p in presence][0] is True and presence[-1].present is False
    arrived = presence[0]
    assert arrived.faces == 1 and arrived.looking and max(map(abs, arrived.position)) < 0.1  # centred
    assert affect and all(a.source == "face" for a in affect)
    assert affect[-1].label == "joy" and affect[-1].vad[0] > 0.5 and affect[-1].confidence > 0.5
    assert "smiles" in affect[-1].cues
    # throttled: at most one estimate per 0.25 s of video, never one per frame
    assert len(affect) <= 12 * 0.1 / 0.25 + 1
    assert seeing.frames == 37 and seeing.dropped == 0
    assert seeing.latest_face_state() is None  # the last frames are empty


@pytest.mark.slow
async def test_latest_face_state_carries_the_users_smile_and_head(analyzer_factory, no_leaked_tasks):
    seeing = Seeing(EventBus(), ImageSource(F.astronaut(), repeat=3, fps=10), analyzer_factory())
    await seeing.run()
    state = seeing.latest_face_state()
    assert state is not None and state["mouthSmileLeft"] > 0.6 and state["mouthSmileRight"] > 0.6
    assert state["eyeLookDownLeft"] == 0.0  # eye direction lives in gaze, not twice
    user = seeing.latest_analysis().user
    assert state.head == pytest.approx(user.head)
    m = seeing.latest_face_state(mirror=True)
    assert m.head[1] == pytest.approx(-state.head[1]) and m["eyeSquintLeft"] == pytest.approx(state["eyeSquintRight"])
    await seeing.source.aclose()


@pytest.mark.slow
async def test_several_people_are_counted(analyzer_factory, no_leaked_tasks):
    tA = F.face_tile(F.astronaut(), F.ASTRONAUT_FACE, 0.4)
    tG = F.face_tile(F.grace_hopper(), F.HOPPER_FACE, 0.4)
    bus = EventBus()
    sub = bus.subscribe("test", ev.UserPresence)
    seeing = Seeing(bus, ImageSource(F.scene([(tA, 170, 240, 300), (tG, 480, 240, 190)]), repeat=5, fps=10),
                    analyzer_factory())
    await seeing.run()
    arrived = drain(sub)[0]
    assert arrived.present and arrived.faces == 2 and arrived.position[0] < -0.2  # the larger, on the left
    assert seeing.latest_analysis().others == 1
    await seeing.source.aclose()


@pytest.mark.slow
def test_build_seeing_on_a_file(arrive_and_leave_clip):
    seeing = build_seeing(EventBus(), input_video=arrive_and_leave_clip, realtime=False)
    assert isinstance(seeing.source, FileVideoSource)
    seeing.source.close()
    seeing.analyzer.close()
