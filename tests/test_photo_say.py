"""``agent say --avatar-photo``: a real voice and a real portrait to an mp4 whose face talks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from face_fixtures import astronaut

from agent.cli import main

pytestmark = pytest.mark.slow


def test_say_renders_a_talking_photo(tmp_path, capsys):
    photo, out = tmp_path / "astronaut.jpg", tmp_path / "out.mp4"
    cv2.imwrite(str(photo), astronaut()[:, :, ::-1])
    code = main(["say", "--persona", "tutor", "--avatar-photo", str(photo), "--text",
                 "Hello there. Shall we begin?", "--emotion", "joy", "--output", str(out)])
    assert code == 0 and f"wrote {out}" in capsys.readouterr().out
    import av

    with av.open(str(out)) as f:
        assert f.streams.audio, "the clip has its voice"
        frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
    assert len(frames) > 30 and frames[0].shape == (512, 512, 3)
    stack = np.stack(frames).astype(np.float32)
    motion = stack.std(axis=0).mean(axis=2)  # where the picture changes over the clip
    h = motion.shape[0]
    mouth = motion[int(0.55 * h):int(0.72 * h), int(0.38 * h):int(0.62 * h)].mean()
    corner = motion[:40, :40].mean()
    assert mouth > 8.0 and mouth > 10 * max(corner, 0.3)


def test_say_names_a_photo_without_a_face(tmp_path, capsys):
    import skimage.data

    photo = tmp_path / "coffee.jpg"
    cv2.imwrite(str(photo), skimage.data.coffee()[:, :, ::-1])
    code = main(["say", "--persona", "tutor", "--avatar-photo", str(photo), "--text", "Hi.",
                 "--output", str(tmp_path / "x.mp4")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no face found in" in err and "\n" not in err
