"""docs/plugins.md's 30-line example really works, through the test kit; the published client
schema matches the code."""

import json
import re
from pathlib import Path

from agent.core.events import AgentEmotion
from agent.core.face_state import FaceState
from plugins import wire
from plugins.testing import Timeline, fake_speech, run_plugin

DOCS = Path(__file__).resolve().parents[1] / "docs"


def doc_example():
    text = (DOCS / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    source = next(b for b in blocks if "class MoodLamp" in b)
    assert len(source.strip().splitlines()) <= 30  # the promise in the heading
    namespace: dict = {}
    exec(compile(source, "docs/plugins.md", "exec"), namespace)
    return namespace["MoodLamp"]


def test_the_documented_plugin_runs_and_reacts(tmp_path):
    MoodLamp = doc_example()
    lines: list[str] = []
    lamp = MoodLamp(MoodLamp.Settings(path=tmp_path / "lamp"))
    original = lamp.run_blocking

    async def spy(fn, *args):  # the real write, plus a record of what was written
        lines.append(args[0])
        return await original(fn, *args)

    lamp.run_blocking = spy
    talking = lambda t: FaceState(t=t, speaking=True).with_weights(jawOpen=1.0)  # noqa: E731
    timeline = (Timeline()
                .at(0.0, AgentEmotion(label="joy", vad=(0.8, 0.5, 0.4), intensity=0.7))
                .faces(0.0, 1.0, fps=60, make=talking)
                .at(1.5, AgentEmotion(label="sadness", vad=(-0.63, -0.27, -0.33), intensity=0.7))
                .faces(1.6, 2.0, fps=60, make=lambda t: FaceState(t=t)))
    run = run_plugin(lamp, timeline)
    assert run.status == "stopped" and not run.errors
    assert run.stats["events"] == 2 and 13 <= run.stats["faces"] <= 17  # 10 Hz
    rgb = [tuple(map(int, line.split())) for line in lines]
    happy, sad = rgb[5], rgb[-2]
    assert happy[1] > happy[0] and sum(happy) > sum(sad)  # green and bright while talking happily
    assert sad[0] > sad[1]  # red and dim when sad and quiet
    assert (tmp_path / "lamp").read_text() == "0 0 0\n"  # off after stop


def test_the_documented_test_kit_snippet(tmp_path):
    MoodLamp = doc_example()
    lamp = MoodLamp(MoodLamp.Settings(path=tmp_path / "lamp"))
    timeline = (Timeline()
                .at(0.0, AgentEmotion(label="joy", vad=(0.8, 0.5, 0.4), intensity=0.7))
                .faces(0.0, 2.0, fps=60)
                .speech(0.5, fake_speech("hello there", seconds=1.0)))
    run = run_plugin(lamp, timeline)
    assert run.status == "stopped" and not run.errors
    assert run.stats["faces"] <= 21


def test_published_client_schema_is_current():
    published = json.loads((DOCS / "websocket-client.schema.json").read_text())
    assert published == wire.schema(), "regenerate docs/websocket-client.schema.json from plugins.wire.schema()"
