"""Building a session from a persona and the command line: the real components, each missing
device reported once, clearly, and the session going on with what it has."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.bus import EventBus
from agent.errors import DeviceUnavailable, UserError
from agent.recorder import Recording, RecordingSink
from agent.session import Parts
from agent.tasks import TaskOwner
from persona.config import Persona

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    input_audio: Path | None = None
    input_video: Path | None = None
    output: Path | None = None
    events: Path | None = None
    realtime: bool = True
    plugins: list[str] = field(default_factory=list)
    plugin_policy: str = "disable"
    fps: float = 30.0
    size: tuple[int, int] = (512, 512)
    seed: int = 0
    llm_backend: str | None = None
    avatar_photo: str | None = None
    virtual_camera: bool = True
    window: bool = True
    audio_device: str | None = None
    camera: int = 0
    asr_model: str | None = None

    @property
    def from_files(self) -> bool:
        return self.input_audio is not None or self.input_video is not None


def _progress(text: str) -> None:
    print(f"agent: {text}", file=sys.stderr, flush=True)


async def build_parts(persona: Persona, opts: RunOptions, bus: EventBus) -> Parts:
    from agent.dialogue import Dialogue
    from agent.llm import make_llm
    from agent.tts import make_tts
    from perception.fusion import AffectFusion
    from perception.text_affect import TextAffect
    from persona.transition import EmotionEngine
    from render.animator import Animator

    notices: list[str] = []
    _progress(f"starting {persona.display_name} ({persona.name})")
    llm = await make_llm(persona.llm, persona_name=persona.display_name, backend=opts.llm_backend,
                         notice=notices.append)
    dialogue = Dialogue(persona, llm, EmotionEngine(persona))
    tts = make_tts(persona.voice, persona.language)
    parts = Parts(persona=persona, dialogue=dialogue, tts=tts, output=None,
                  animator=Animator(persona, fps=opts.fps, seed=opts.seed),
                  text_affect=TextAffect(), fusion=AffectFusion(), fps=opts.fps, notices=notices)
    parts.output = _audio_output(opts, notices)
    parts.hearing = _hearing(opts, bus, notices)
    parts.seeing = _seeing(opts, bus, notices)
    parts.typed_input = parts.hearing is None and not opts.from_files
    parts.greet = not opts.from_files
    if opts.from_files:  # the session lasts as long as its input files
        parts.ends_with = ("hearing", "seeing")
    if parts.typed_input:
        notices.append("no microphone: type to the agent (one line per turn; Ctrl-D ends)")
    parts.renderer = _renderer(persona, opts)
    parts.live_sinks = _live_sinks(opts, notices)
    record = opts.output
    if record is None and not parts.live_sinks and not opts.from_files:
        record = Path(os.environ.get("AGENT_RECORD_DIR", ".")) / f"session-{persona.name}.mp4"
        notices.append(f"no virtual camera and no display: recording the session to {record}")
    if record is not None:
        # from files: render afterwards from the exact timeline; live: render as it happens,
        # so stopping never waits for a backlog of frames
        parts.recording = Recording(record, opts.fps, opts.size, sample_rate=tts.sample_rate,
                                    keep_frames=opts.from_files)
        if not opts.from_files:
            parts.live_sinks.append(RecordingSink(parts.recording))
    _progress("warming up the models")
    await warm_up(parts)
    if opts.plugins or persona.plugins:
        from plugins.host import PluginHost

        parts.plugins = PluginHost.from_specs(opts.plugins, persona.plugins, bus=bus,
                                              owner=TaskOwner("plugins"), policy=opts.plugin_policy)
    return parts


def _audio_output(opts: RunOptions, notices: list[str]) -> Any:
    from agent.audio_out import DeviceAudioOutput, VirtualClockOutput

    if opts.from_files:
        return VirtualClockOutput(realtime=opts.realtime, keep_audio=False)
    try:
        return DeviceAudioOutput(device=opts.audio_device)
    except DeviceUnavailable as e:
        notices.append(f"{e} — the session is recorded instead")
        return VirtualClockOutput(realtime=True, keep_audio=False)


def _hearing(opts: RunOptions, bus: EventBus, notices: list[str]) -> Any | None:
    from perception.hearing import build_hearing

    try:
        return build_hearing(bus, input_audio=opts.input_audio, realtime=opts.realtime,
                             live=not opts.from_files, asr_model=opts.asr_model, progress=_progress)
    except DeviceUnavailable as e:
        notices.append(str(e))
        return None


def _seeing(opts: RunOptions, bus: EventBus, notices: list[str]) -> Any | None:
    if opts.from_files and opts.input_video is None:
        return None
    from perception.seeing import build_seeing

    try:
        return build_seeing(bus, input_video=opts.input_video, camera=opts.camera,
                            realtime=opts.realtime)
    except DeviceUnavailable as e:
        notices.append(str(e))
        return None


def _renderer(persona: Persona, opts: RunOptions) -> Any:
    from render.renderer import make_renderer

    avatar = persona.avatar
    if opts.avatar_photo:
        avatar = avatar.model_copy(update={"photo": opts.avatar_photo})
    return make_renderer(avatar, size=opts.size)


def _live_sinks(opts: RunOptions, notices: list[str]) -> list[Any]:
    if opts.from_files:
        return []
    from render.sinks import VirtualCameraSink, WindowSink

    sinks = []
    for wanted, make in ((opts.virtual_camera, lambda: VirtualCameraSink(opts.fps, opts.size)),
                         (opts.window, lambda: WindowSink(opts.fps, opts.size))):
        if not wanted:
            continue
        try:
            sinks.append(make())
        except (DeviceUnavailable, UserError) as e:
            notices.append(str(e))
    return sinks


async def warm_up(parts: Parts) -> None:
    """Run each model once before the user speaks, so the first turn is as fast as the rest
    (lazy loads, first-call allocations, the LLM's fixed prompt prefix)."""
    import asyncio

    import numpy as np

    from agent.llm.base import Message
    from agent.tts import Prosody
    from render.face_state import FaceState

    def models() -> None:
        parts.text_affect.estimate("Hello there, how are you?", 0.0)
        for _ in parts.tts.synthesize("Hello.", Prosody.of_voice(parts.persona.voice)):
            pass
        if parts.hearing is not None:
            parts.hearing.asr.transcribe(np.zeros(16000, dtype=np.float32), 0.0)
        if parts.renderer is not None:
            parts.renderer.render([FaceState()])

    await asyncio.to_thread(models)
    llm = parts.dialogue.llm
    async for _ in llm.stream([Message("system", parts.persona.system_prompt), Message("user", "Hi")],
                              max_tokens=2):
        pass
