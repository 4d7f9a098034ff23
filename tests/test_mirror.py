"""``agent mirror``: the avatar wears the user's expression and head pose."""

from __future__ import annotations

import av
import face_fixtures as F
import numpy as np
import pytest

from agent.cli import main
from agent.commands.mirror import MirrorDriver
from perception.seeing import FaceAnalyzer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    face = F.scene([(F.face_tile(F.astronaut(), F.ASTRONAUT_FACE, 0.4), 320, 240, 280)])
    frames = [np.roll(face, 3 * i, axis=1) for i in range(8)] + [F.canvas()] * 8
    return F.write_clip(tmp_path_factory.mktemp("mirror") / "user.mp4", frames, fps=10)


def test_the_driver_copies_the_smile_and_rests_without_a_face():
    driver = MirrorDriver(FaceAnalyzer(video=True), rest_after=0.3)
    try:
        face = F.astronaut()
        for i in range(3):
            state = driver.step(face, i / 10)
        assert state["mouthSmileLeft"] > 0.6 and state.head[0] < 0  # her chin is down a little
        for i in range(3, 15):
            state = driver.step(F.canvas(), i / 10)
        assert state["mouthSmileLeft"] < 0.1 and abs(state.head[0]) < 0.05
        assert driver.frames == 15 and driver.seen == 3
    finally:
        driver.analyzer.close()


def test_the_rendered_avatar_changes_with_the_users_face():
    from agent.core.face_state import FaceState
    from persona.config import get_persona
    from render.renderer import make_renderer

    renderer = make_renderer(get_persona("tutor").avatar, size=(128, 128))
    driver = MirrorDriver(FaceAnalyzer(video=True))
    try:
        smiling = driver.step(F.astronaut(), 0.0)
    finally:
        driver.analyzer.close()
    a, b = renderer.render([FaceState(), smiling])
    assert a.shape == (128, 128, 3) and np.abs(a.astype(int) - b.astype(int)).mean() > 1.0


class RecordingSink:
    made: list[RecordingSink] = []

    def __init__(self, path, fps, size, *a, **k):
        self.path, self.fps, self.size, self.frames, self.closed = path, fps, size, [], False
        RecordingSink.made.append(self)

    def write(self, frame, t):
        self.frames.append((frame.shape, round(t, 3)))

    def close(self):
        self.closed = True


def test_the_command_drives_every_frame_of_a_file_into_the_output(clip, tmp_path, monkeypatch, capsys):
    import render.sinks

    monkeypatch.setattr(render.sinks, "VideoFileSink", RecordingSink)
    RecordingSink.made.clear()
    out = tmp_path / "avatar.mp4"
    assert main(["mirror", "--persona", "tutor", "--input-video", str(clip), "--output", str(out),
                 "--size", "128"]) == 0
    (sink,) = RecordingSink.made
    assert sink.closed and sink.fps == pytest.approx(10.0) and sink.size == (128, 128)
    assert [t for _, t in sink.frames] == [round(i / 10, 3) for i in range(16)]
    assert all(shape == (128, 128, 3) for shape, _ in sink.frames)
    assert "a face in 50%" in capsys.readouterr().err


def test_the_command_writes_a_real_video_file(clip, tmp_path):
    out = tmp_path / "avatar.mp4"
    assert main(["mirror", "--persona", "tutor", "--input-video", str(clip), "--output", str(out),
                 "--size", "128"]) == 0
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 16 and c.streams.video[0].width == 128


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["mirror", "--persona", "tutor", "--input-video", str(tmp_path / "none.mp4")]) == 2
    assert capsys.readouterr().err.strip() == f"agent: {tmp_path / 'none.mp4'}: no such video file"
    assert main(["mirror", "--persona", "tutor", "--camera", "57", "--output", str(tmp_path / "o.mp4")]) == 2
    assert "no camera at index 57" in capsys.readouterr().err


def test_no_virtual_camera_names_the_alternatives(clip, capsys):
    from render.sinks import check_virtual_camera

    if check_virtual_camera()[0]:
        pytest.skip("this machine has a virtual camera")
    assert main(["mirror", "--persona", "tutor", "--input-video", str(clip), "--size", "128"]) == 2
    err = capsys.readouterr().err
    assert "virtual camera" in err and "--output out.mp4" in err and err.count("\n") == 1
