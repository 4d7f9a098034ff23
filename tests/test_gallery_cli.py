"""agent gallery: a labelled contact sheet of every basic emotion and viseme."""

from __future__ import annotations

import cv2
import numpy as np

from agent.cli import main
from render.sheet import COLUMNS, EMOTIONS, TILE, tiles


def test_gallery_writes_a_sheet_with_every_emotion_and_viseme(tmp_path, capsys) -> None:
    from render.lipsync import VISEMES

    labels = [label for label, _, _ in tiles()]
    assert set(EMOTIONS) <= set(labels) and {f"viseme {v}" for v in VISEMES} <= set(labels)
    out = tmp_path / "sheet.png"
    assert main(["gallery", "--persona", "worrier", "--output", str(out)]) == 0
    img = cv2.imread(str(out))
    rows = -(-len(labels) // COLUMNS)
    assert img.shape == (40 + rows * TILE, COLUMNS * TILE, 3)
    faces = [img[40 + (i // COLUMNS) * TILE:40 + (i // COLUMNS + 1) * TILE - 30,
                 (i % COLUMNS) * TILE:(i % COLUMNS + 1) * TILE].astype(int) for i in range(len(labels))]
    neutral = faces[labels.index("neutral")]
    for name in ("joy", "sadness", "surprise", "anger", "fear", "disgust", "viseme aa", "viseme PP"):
        assert np.abs(faces[labels.index(name)] - neutral).max(axis=2).__gt__(25).sum() > 15, name
    assert "wrote" in capsys.readouterr().out


def test_gallery_rejects_a_non_png_output(tmp_path, capsys) -> None:
    assert main(["gallery", "--output", str(tmp_path / "sheet.jpg")]) == 2
    assert ".png" in capsys.readouterr().err
