"""``perceive_image`` / ``perceive_video`` (what ``agent perceive`` prints) and the face bench."""

from __future__ import annotations

import json

import face_fixtures as F
import pytest

from agent.bench.face import bench_face
from agent.bench.report import BenchOptions
from perception.face_timeline import perceive_image, perceive_video

pytestmark = pytest.mark.slow


def test_an_image_gives_label_vad_confidence_and_aus(tmp_path):
    import cv2

    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(F.astronaut(), cv2.COLOR_RGB2BGR))
    row = perceive_image(path)
    assert row["label"] == "joy" and row["faces"] == 1 and row["confidence"] > 0.5
    assert row["vad"][0] > 0.5 and row["aus"]["AU12"] > 0.6
    assert row["position"][1] > 0.3  # her face is in the upper half of the picture
    json.dumps(row)  # plain JSON all the way down
    calm = perceive_image(F.grace_hopper())
    assert calm["label"] == "neutral" and calm["vad"][0] < row["vad"][0] - 0.5


def test_an_image_without_a_face_says_so():
    row = perceive_image(F.canvas())
    assert row == {"t": 0.0, "faces": 0, "present": False, "label": "", "vad": [0.0, 0.0, 0.0],
                   "confidence": 0.0, "aus": {}, "cues": ""}


def test_a_video_gives_affect_over_time(tmp_path):
    tA = F.face_tile(F.astronaut(), F.ASTRONAUT_FACE, 0.4)
    tG = F.face_tile(F.grace_hopper(), F.HOPPER_FACE, 0.4)
    frames = [F.scene([(tA, 320, 240, 260)])] * 10 + [F.canvas()] * 10 + [F.scene([(tG, 320, 240, 260)])] * 10
    clip = F.write_clip(tmp_path / "two_people.mp4", frames, fps=10)
    rows = perceive_video(clip, sample_fps=5)
    assert [r["t"] for r in rows] == pytest.approx([i / 5 for i in range(15)], abs=1e-3)
    assert [r["present"] for r in rows] == [True] * 5 + [False] * 5 + [True] * 5
    assert {r["label"] for r in rows[:5]} == {"joy"} and rows[-1]["label"] == "neutral"
    assert all(r["confidence"] == 0.0 for r in rows[5:10])
    assert len(perceive_video(clip, sample_fps=None)) == 30


def test_bench_reports_ms_per_640x480_frame():
    timings = {t.name: t for t in bench_face(BenchOptions(quick=True))}
    total = timings["face total, 1 face (ms/frame 640x480)"]
    assert total.unit == "ms" and len(total.samples) == 8 and all(s > 0 for s in total.samples)
    assert "face landmarks (ms/frame 640x480)" in timings and "face total, 2 faces (ms/frame 640x480)" in timings
