"""One builder for every session: ``run``, ``chat``, ``mirror``, ``serve`` and the benchmarks
differ in their sources and sinks, never in their wiring.

``build_pipeline`` makes the real stages a persona and the options ask for — each missing device
reported once, clearly, and the session going on with what it has — and ``Pipeline`` holds them,
typed by the protocols in ``agent.core.stages``. ``Models`` keeps the heavy models a process has
loaded (the LLM, Whisper, TTS voices) so that a second session shares them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agent.core.bus import EventBus
from agent.core.errors import DeviceUnavailable, UserError
from agent.core.stages import LLM, TTS, Animator, AudioOutput, InputStage, Renderer, Sink
from agent.core.tasks import TaskOwner

if TYPE_CHECKING:
    from agent.dialogue import Dialogue
    from agent.memory import Memory
    from agent.recorder import Recording
    from agent.turn_taking import TurnTaker
    from agent.understanding import Understanding
    from perception.hearing import Hearing
    from perception.seeing import Seeing
    from persona.config import Persona
    from plugins.host import PluginHost

log = logging.getLogger(__name__)

# what a session is for: a conversation with a face and a voice, text only, or the user's face
# worn by the avatar
Mode = Literal["conversation", "text", "mirror"]


@dataclass
class PipelineOptions:
    mode: Mode = "conversation"
    input_audio: Path | None = None
    input_video: Path | None = None
    output: Path | None = None
    events: Path | None = None
    realtime: bool = True
    plugins: list[str] = field(default_factory=list)
    plugin_policy: str = "disable"
    fps: float = 30.0
    size: tuple[int, int] = (512, 512)
    # live video frames drawn per render call (agent.face_loop.LiveVideo); None: its default
    live_batch: int | None = None
    seed: int = 0
    llm_backend: str | None = None
    tts_backend: str | None = None  # "espeak" or "piper" instead of the persona's
    avatar_photo: str | None = None
    renderer: str | None = None  # a renderer registered under ``embodied_agent.renderers``
    virtual_camera: bool = True
    window: bool = True
    mirror_window: bool = True  # the preview window behaves like a mirror (mirror mode)
    audio_device: str | None = None
    camera: int = 0
    asr_model: str | None = None
    allow_download: bool = False
    face_model: str | None = None
    microphone: bool = True  # live conversation: listen to the microphone (else typed input)
    keyboard: bool = True  # without a microphone, read typed turns from stdin
    speakers: bool = True  # live conversation: play through the speakers (else a virtual clock)
    record_fallback: bool = True  # live with no video output at all: record to session-<persona>.mp4
    # devices a caller brings (a browser's WebRTC tracks in ``agent serve``): used instead of the
    # machine's microphone, speakers, camera and video outputs
    audio_source: Any = None  # perception.audio_source.AudioSource
    audio_output: AudioOutput | None = None
    video_source: Any = None  # perception.video_source's recv() -> VideoFrame | None
    video_sinks: list[Sink] = field(default_factory=list)
    # who the agent talks to: their memories are recalled and kept (agent.memory); None: no memory.
    # ``agent run``/``chat`` pass the OS user unless --user says otherwise; ``agent serve`` passes
    # the browser session's signed-in name or an anonymous id.
    user: str | None = None

    @property
    def from_files(self) -> bool:
        return self.input_audio is not None or self.input_video is not None

    @property
    def brought(self) -> bool:
        """The caller brings the devices: nothing of this machine's is opened."""
        return self.audio_source is not None or self.audio_output is not None


@dataclass
class Pipeline:
    """Everything a session runs with; each stage optional where the mode does without it."""

    persona: Persona
    understanding: Understanding | None = None
    dialogue: Dialogue | None = None
    tts: TTS | None = None
    output: AudioOutput | None = None
    animator: Animator | None = None
    hearing: Hearing | None = None
    turns: TurnTaker | None = None
    seeing: Seeing | None = None
    plugins: PluginHost | None = None
    renderer: Renderer | None = None
    live_sinks: list[Sink] = field(default_factory=list)
    recording: Recording | None = None
    memory: Memory | None = None
    typed_input: bool = False
    greet: bool = False  # say the persona's greeting when the session starts (live sessions)
    # input stages whose end (file consumed, stdin closed) ends the session once the agent is done
    ends_with: tuple[str, ...] = ("hearing", "keyboard")
    fps: float = 30.0
    live_batch: int | None = None
    notices: list[str] = field(default_factory=list)
    owned: list[Any] = field(default_factory=list)  # closed with the pipeline (its own models)
    _io_closed: bool = field(default=False, repr=False)

    def describe(self) -> dict[str, str]:
        """Stage → the model or device behind it (``SessionStarted``)."""
        out: dict[str, str] = {}
        if self.dialogue is not None:
            llm = self.dialogue.llm
            language = getattr(llm, "language", None)  # a base model's few-shot transcript
            out["llm"] = getattr(llm, "name", "?") + (f" (few-shot in {language})" if language else "")
        if self.hearing is not None:
            out["asr"] = getattr(getattr(self.hearing, "asr", None), "name", "?")
            out["microphone"] = type(getattr(self.hearing, "source", None)).__name__
        if self.tts is not None:
            voice = getattr(self.tts, "voice", None) or getattr(getattr(self.tts, "model_path", None), "stem", "")
            out["tts"] = f"{getattr(self.tts, 'name', '?')} {voice}".strip()
        if self.seeing is not None:
            out["camera"] = type(getattr(self.seeing, "source", None)).__name__
        if self.renderer is not None:
            out["renderer"] = type(self.renderer).__name__
        if self.output is not None:
            out["audio output"] = type(self.output).__name__
        out.update({f"video output {i + 1}": getattr(s, "name", type(s).__name__)
                    for i, s in enumerate(self.live_sinks)})
        return out

    @property
    def inputs(self) -> dict[str, InputStage]:
        return {name: stage for name, stage in (("hearing", self.hearing), ("seeing", self.seeing))
                if stage is not None}

    async def close_io(self, deadline: float = 1.0) -> list[str]:
        """Stop the devices and files, inputs first (the session does this when it ends), each
        under ``deadline`` seconds; returns what did not close in time (logged). Idempotent."""
        if self._io_closed:
            return []
        self._io_closed = True
        steps: list[tuple[str, Callable[[], Any]]] = []
        if self.plugins is not None:
            plugins = self.plugins
            steps.append(("plugins", lambda: plugins.stop(0.3)))
        steps += [(name, stage.aclose) for name, stage in self.inputs.items()]
        if self.output is not None:
            steps.append(("audio output", self.output.aclose))
        for sink in self.live_sinks:
            steps.append((getattr(sink, "name", type(sink).__name__), _closer(sink)))
        return await _close_all(steps, deadline)

    async def aclose(self, deadline: float = 1.0) -> list[str]:
        """Everything: the devices, then the models this pipeline owns (worker pools included)."""
        stuck = await self.close_io(deadline)
        if self.memory is not None:  # a no-op when the session has finished it
            await self.memory.finish(graceful=False)
        steps = [(getattr(m, "name", type(m).__name__), _closer(m)) for m in self.owned]
        if self.renderer is not None and hasattr(self.renderer, "close"):
            steps.append(("renderer", _closer(self.renderer)))
        self.owned, self.renderer = [], None
        return stuck + await _close_all(steps, deadline)

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _close_all(steps: list[tuple[str, Callable[[], Any]]], deadline: float) -> list[str]:
    stuck: list[str] = []
    for name, step in steps:
        try:
            result = step()
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await asyncio.wait_for(result, deadline)
        except TimeoutError:
            stuck.append(name)
            log.warning("closing %s took longer than %.1f s; left behind", name, deadline)
        except Exception as e:  # closing must go on past one broken stage
            log.warning("closing %s failed: %s", name, e)
    return stuck


def _closer(model: Any) -> Callable[[], Any]:
    if hasattr(model, "aclose"):
        return model.aclose
    return lambda: asyncio.to_thread(model.close)


class Models:
    """Heavy models loaded once per process and shared by every session built with it.

    A session owns its state (dialogue, mood, turn, VAD state); the weights here are read-only
    and each model serialises its own calls (Whisper and llama.cpp hold a lock per model)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._lock = asyncio.Lock()

    async def llm(self, persona: Persona, backend: str | None, notice: Callable[[str], None]) -> LLM:
        from agent.llm import make_llm

        key = ("llm", backend or persona.llm.backend, persona.llm.model_dump_json(), persona.language,
               persona.display_name)
        async with self._lock:
            if key not in self._cache:
                self._cache[key] = await make_llm(persona.llm, persona_name=persona.display_name,
                                                  backend=backend, notice=notice,
                                                  language=persona.language)
            return self._cache[key]

    def tts(self, persona: Persona, backend: str | None = None) -> TTS:
        from agent.tts import make_tts

        voice = persona.voice if backend is None else persona.voice.model_copy(update={"backend": backend})
        return self._get(("tts", voice.model_dump_json(), persona.language), lambda: make_tts(voice, persona.language))

    def asr(self, model: str | None, allow_download: bool, language: str,
            progress: Callable[[str], None] | None) -> Any:
        from perception.asr import WhisperAsr, model_for_language

        name = model or model_for_language(language)
        return self._get(("asr", name, language), lambda: WhisperAsr(
            name, allow_download=allow_download, progress=progress, language=language.split("-")[0]))

    def turn_end(self) -> Any:
        """Smart Turn v3: does an utterance sound finished (perception.turn_end)."""
        from perception.turn_end import TurnEndModel

        return self._get(("turn end",), TurnEndModel)

    def _get(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    async def aclose(self) -> None:
        for model in self._cache.values():
            closer = getattr(model, "aclose", None)
            if closer is not None:
                await closer()
        self._cache.clear()


def _progress(text: str) -> None:
    print(f"agent: {text}", file=sys.stderr, flush=True)


async def build_pipeline(persona: Persona, opts: PipelineOptions, bus: EventBus,
                         models: Models | None = None, *,
                         progress: Callable[[str], None] = _progress) -> Pipeline:
    """The stages ``opts`` ask for, built and warmed up. ``models``: share loaded models with
    other sessions (default: this session loads its own and closes them with the pipeline)."""
    own = models is None
    models = models or Models()
    p = Pipeline(persona=persona, fps=opts.fps, live_batch=opts.live_batch)
    progress(f"starting {persona.display_name} ({persona.name})")
    try:
        if opts.mode == "conversation" and (opts.plugins or persona.plugins):
            from plugins.host import PluginHost

            # built (settings validated) before any model loads: a bad setting is one line at once
            p.plugins = PluginHost.from_specs(opts.plugins, persona.plugins, bus=bus,
                                              owner=TaskOwner("plugins"), policy=opts.plugin_policy)
        if opts.mode != "mirror":
            await _conversation(p, persona, opts, bus, models, progress)
        if opts.mode != "text":
            _face(p, persona, opts, bus)
        progress("warming up the models")
        await warm_up(p)
    except BaseException:
        await p.aclose()
        if own:
            await models.aclose()
        raise
    if own:
        p.owned.append(models)
    return p


async def _conversation(p: Pipeline, persona: Persona, opts: PipelineOptions, bus: EventBus,
                        models: Models, progress: Callable[[str], None]) -> None:
    from agent.dialogue import Dialogue
    from agent.understanding import Understanding

    llm = await models.llm(persona, opts.llm_backend, p.notices.append)
    p.dialogue = Dialogue(persona, llm)
    p.understanding = await asyncio.to_thread(Understanding.for_persona, persona)
    if opts.user is not None and persona.memory:
        from agent.memory import open_memory

        p.memory = await open_memory(opts.user, persona, llm, p.understanding.engine, p.notices.append)
    p.typed_input = opts.keyboard and not opts.from_files and not opts.brought
    p.greet = not opts.from_files
    if opts.mode == "text":
        p.ends_with = ("keyboard",)
        return
    p.tts = models.tts(persona, opts.tts_backend)
    p.output = _audio_output(opts, p.notices, p.tts.sample_rate)
    p.hearing = _hearing(opts, bus, p.notices, models, persona.language, progress)
    if p.hearing is not None:
        from agent.turn_taking import listen

        p.turns = await asyncio.to_thread(listen, bus, p.hearing)
    p.typed_input = p.typed_input and p.hearing is None
    if opts.from_files or opts.brought:  # the session lasts as long as its inputs
        p.ends_with = ("hearing", "seeing")
    if p.typed_input:
        p.notices.append("no microphone: type to the agent (one line per turn; Ctrl-D ends)")


def _face(p: Pipeline, persona: Persona, opts: PipelineOptions, bus: EventBus) -> None:
    if opts.mode == "conversation":
        from render.animator import Animator

        p.animator = Animator(persona, fps=opts.fps, seed=opts.seed)
    p.seeing = _seeing(opts, bus, p.notices)
    p.renderer = _renderer(persona, opts)
    p.live_sinks = _live_sinks(opts, p.notices)
    if opts.mode == "mirror":
        return
    record = opts.output
    if record is None and not p.live_sinks and not opts.from_files and not opts.brought and opts.record_fallback:
        record = Path(os.environ.get("AGENT_RECORD_DIR", ".")) / f"session-{persona.name}.mp4"
        p.notices.append(f"no virtual camera and no display: recording the session to {record}")
    if record is not None:
        from agent.recorder import Recording, RecordingSink

        # from files: render afterwards from the exact timeline; live: render as it happens,
        # so stopping never waits for a backlog of frames
        rate = p.tts.sample_rate if p.tts is not None else 22050
        p.recording = Recording(record, opts.fps, opts.size, sample_rate=rate, keep_frames=opts.from_files)
        if not opts.from_files:
            p.live_sinks.append(RecordingSink(p.recording))  # type: ignore[arg-type]  # frames only


def _audio_output(opts: PipelineOptions, notices: list[str], rate: int) -> AudioOutput:
    from agent.audio_out import DeviceAudioOutput, VirtualClockOutput

    if opts.audio_output is not None:
        return opts.audio_output
    if opts.from_files or not opts.speakers:
        return VirtualClockOutput(rate, realtime=opts.realtime, keep_audio=False)
    try:
        return DeviceAudioOutput(device=opts.audio_device)
    except DeviceUnavailable as e:
        notices.append(f"{e} — the session is recorded instead")
        return VirtualClockOutput(rate, realtime=True, keep_audio=False)


def _hearing(opts: PipelineOptions, bus: EventBus, notices: list[str], models: Models, language: str,
             progress: Callable[[str], None]) -> Hearing | None:
    from perception.audio_source import FileAudioSource, MicrophoneSource
    from perception.echo import EchoReference
    from perception.hearing import Hearing
    from perception.vad import SileroVad
    from perception.voice_affect import VoiceAffect

    if opts.audio_source is not None:
        source: Any = opts.audio_source
    elif opts.input_audio is not None:
        source = FileAudioSource(opts.input_audio, realtime=opts.realtime)
    elif opts.from_files or opts.brought or not opts.microphone:
        return None
    else:
        try:
            source = MicrophoneSource(opts.audio_device)
        except DeviceUnavailable as e:
            notices.append(str(e))
            return None
    progress("loading speech recognition and voice activity models")
    asr = models.asr(opts.asr_model, opts.allow_download, language, progress)
    return Hearing(bus, source, asr, SileroVad(), VoiceAffect(), EchoReference(), turn_end=models.turn_end())


def _seeing(opts: PipelineOptions, bus: EventBus, notices: list[str]) -> Seeing | None:
    from perception.seeing import FaceAnalyzer, Seeing, build_seeing

    if opts.video_source is not None:
        return Seeing(bus, opts.video_source, FaceAnalyzer(model_path=opts.face_model))
    if (opts.from_files and opts.input_video is None) or opts.brought:
        return None

    realtime = opts.realtime
    if opts.mode == "mirror":  # a file read into a file goes frame by frame; live keeps the newest
        realtime = opts.output is None or opts.window
    try:
        return build_seeing(bus, input_video=opts.input_video, camera=opts.camera, realtime=realtime,
                            model_path=opts.face_model, allow_download=opts.allow_download)
    except DeviceUnavailable as e:
        if opts.mode == "mirror":
            raise
        notices.append(str(e))
        return None


def _renderer(persona: Persona, opts: PipelineOptions) -> Renderer:
    from render.renderer import make_renderer

    avatar = persona.avatar
    if opts.avatar_photo:
        avatar = avatar.model_copy(update={"photo": opts.avatar_photo})
    return make_renderer(avatar, size=opts.size, name=opts.renderer)


def _live_sinks(opts: PipelineOptions, notices: list[str]) -> list[Sink]:
    """The live video outputs. A conversation from files records afterwards instead; a mirror
    with neither ``--output`` nor a window must have the virtual camera."""
    import render.sinks as sinks_module

    if opts.mode == "conversation" and (opts.from_files or opts.brought):
        return list(opts.video_sinks)
    fps, size = opts.fps, opts.size
    wanted: list[tuple[bool, Callable[[], Sink]]] = [
        (opts.virtual_camera, lambda: sinks_module.VirtualCameraSink(fps, size)),
        (opts.window, lambda: sinks_module.WindowSink(fps, size, mirror=opts.mirror_window and opts.mode == "mirror")),
    ]
    if opts.mode == "mirror":
        output = opts.output
        if output is not None:
            wanted.insert(0, (True, lambda: sinks_module.VideoFileSink(output, fps, size)))
    out: list[Sink] = list(opts.video_sinks)
    try:
        for want, make in wanted:
            if not want:
                continue
            try:
                out.append(make())
            except (DeviceUnavailable, UserError) as e:
                if opts.mode == "mirror" and not opts.output and not opts.window:
                    raise DeviceUnavailable(f"{e}; or write a file with --output out.mp4, or --window") from None
                if opts.mode == "mirror":
                    raise
                notices.append(str(e))
    except BaseException:
        for sink in out:
            sink.close()
        raise
    return out


async def warm_up(p: Pipeline) -> None:
    """Run each model once before the user speaks, so the first turn is as fast as the rest
    (lazy loads, first-call allocations, the LLM's fixed prompt prefix)."""
    import numpy as np

    from agent.core.face_state import FaceState
    from agent.core.stages import Message, Prosody

    def models() -> None:
        if p.understanding is not None:
            p.understanding.warm_up()
        if p.tts is not None:
            for _ in p.tts.synthesize("Hello.", Prosody.of_voice(p.persona.voice)):
                pass
        if p.hearing is not None and p.hearing.asr is not None:
            p.hearing.asr.transcribe(np.zeros(16000, dtype=np.float32), 0.0)
        if p.renderer is not None:
            p.renderer.render([FaceState()])

    await asyncio.to_thread(models)
    if p.dialogue is not None:  # the fixed prefix is evaluated once, here: every turn reuses it
        async for _ in p.dialogue.llm.stream([Message("system", p.dialogue.system()),
                                              Message("user", "Hi")], max_tokens=2):
            pass
