"""Renderers from other packages: docs/renderers.md's example, installed as a distribution with an
``embodied_agent.renderers`` entry point, is what a persona naming it gets — in process and from
the command line — and broken renderers are one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.core.errors import UserError
from agent.core.face_state import FaceState, weights_from

ROOT = Path(__file__).resolve().parents[1]
COLOUR = (0x33, 0x66, 0xCC)


def _example() -> str:
    text = (ROOT / "docs" / "renderers.md").read_text()
    source = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "class EmojiFace" in b)
    assert len(source.strip().splitlines()) <= 45  # the promise in the heading
    return source


def install(site: Path, dist: str, module: str, source: str, entry_points: dict[str, str]) -> None:
    """A distribution as pip leaves it: the module, and a dist-info with its entry points."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[embodied_agent.renderers]\n{lines}\n")


PERSONAS = textwrap.dedent("""\
    personas:
      beacon:
        display_name: Beacon
        language: en
        traits: {O: 0.5, C: 0.5, E: 0.5, A: 0.5, N: 0.5}
        avatar: {renderer: emoji, options: {colour: "#3366cc"}}
        system_prompt: You are Beacon, a lighthouse keeper who answers briefly.
    """)


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    install(site, "emoji_face", "emoji_face", _example(), {"emoji": "emoji_face:EmojiFace"})
    install(site, "broken_faces", "broken_faces",
            "import not_a_module_anywhere\n", {"broken": "broken_faces:Face"})
    install(site, "odd_faces", "odd_faces", textwrap.dedent("""\
        class NoRender:
            def __init__(self, avatar, size, device=None, threads=None):
                self.size = size
        """), {"odd": "odd_faces:NoRender"})
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_persona_names_a_renderer_another_package_registered(site, tmp_path):
    from persona.config import get_persona
    from render.renderer import available, make_renderer

    assert {"emoji", "broken", "odd"} <= set(available())
    config = tmp_path / "personas.yaml"
    config.write_text(PERSONAS)
    persona = get_persona("beacon", config)
    renderer = make_renderer(persona.avatar, size=(256, 192))
    assert type(renderer).__module__ == "emoji_face" and renderer.size == (256, 192)
    rest, talking = renderer.render([FaceState(), FaceState(weights=weights_from({"jawOpen": 1.0}))])
    assert rest.shape == (192, 256, 3) and rest.dtype == np.uint8
    assert tuple(rest[96, 128]) == COLOUR  # the persona's option reached the renderer
    assert np.abs(talking.astype(int) - rest).sum() > 0  # the mouth opened
    assert np.array_equal(renderer.render([FaceState()])[0], rest)  # a pure function of the state


def test_the_command_line_uses_the_personas_renderer(site, tmp_path):
    config = tmp_path / "personas.yaml"
    config.write_text(PERSONAS)
    out = tmp_path / "sheet.png"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "gallery", "--persona", "beacon", "--config",
                           str(config), "--output", str(out)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.exists()
    sheet = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert (np.abs(sheet.astype(int) - COLOUR).max(axis=2) < 8).mean() > 0.1  # emoji faces, not Ada


def test_broken_renderers_are_one_line(site):
    from render.renderer import make_renderer

    for name, expected in (("broken", "cannot be loaded: No module named 'not_a_module_anywhere'"),
                           ("odd", "does not implement render/push_audio/size"),
                           ("emjoi", "unknown renderer 'emjoi'; installed renderers: ")):
        with pytest.raises(UserError) as e:
            make_renderer(object(), name=name)
        assert expected in str(e.value) and "\n" not in str(e.value)
