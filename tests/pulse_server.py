"""A private PulseAudio server with a null sink named ``agent_mic`` (the virtual microphone): a
real sound device for tests, whose sink can be taken away and brought back mid-session. Its
monitor is the default source, so what is played into the sink is what a microphone hears."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SINK = "agent_mic"


class PulseServer:
    def __init__(self, runtime: Path) -> None:
        self.runtime = runtime

    def pactl(self, *args: str) -> str:
        return subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10, check=True).stdout

    def unplug(self) -> None:
        """The sink (and its monitor, the microphone) goes away, as an unplugged device does."""
        for line in self.pactl("list", "short", "modules").splitlines():
            if f"sink_name={SINK}" in line:
                self.pactl("unload-module", line.split("\t")[0])

    def plug(self) -> None:
        if SINK not in self.pactl("list", "short", "sinks"):
            self.pactl("load-module", "module-null-sink", f"sink_name={SINK}")
        self.pactl("set-default-source", f"{SINK}.monitor")

    def play(self, wav: Path) -> subprocess.Popen[bytes]:
        """Play a file into the sink: the microphone hears it."""
        return subprocess.Popen(["paplay", f"--device={SINK}", str(wav)])


def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """The body of a module-scoped fixture: the server, stopped afterwards (skips without one)."""
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        pytest.skip("pulseaudio is not installed")
    runtime = tmp_path_factory.mktemp("pulse")
    os.chmod(runtime, 0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}
    env.pop("PULSE_SERVER", None)
    res = subprocess.run(["pulseaudio", "--start", "--exit-idle-time=-1", "-n",
                          "--load=module-native-protocol-unix",
                          f"--load=module-null-sink sink_name={SINK}"],
                         env=env, capture_output=True, text=True, timeout=20)
    pid_file = runtime / "pulse" / "pid"
    if res.returncode != 0 or not pid_file.exists():
        pytest.skip(f"cannot start pulseaudio here: {res.stderr.strip()[-200:]}")
    saved = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER", "PULSE_SINK")}
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    os.environ["PULSE_SERVER"] = f"unix:{runtime}/pulse/native"
    try:
        yield PulseServer(runtime)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        pid = int(Path(pid_file).read_text().strip() or 0)
        if pid:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
