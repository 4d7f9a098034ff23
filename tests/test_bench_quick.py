"""`agent bench all --quick --json` runs every suite on tiny inputs, so the benchmark code never
rots (issue: end-to-end latency, sync and soak benchmarks)."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_every_suite_runs_quick_and_writes_json(tmp_path, shared_data):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "bench", "all", "--quick",
                           "--json", str(out)], capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    doc = json.loads(out.read_text())
    assert doc["machine"]["cpus"] and doc["machine"]["versions"]["torch"]
    suites = {s["suite"]: s for s in doc["suites"]}
    assert set(suites) == {"emotion", "perception", "tts", "animation", "render", "latency", "soak", "serve"}
    for s in suites.values():
        assert s["timings"] or s["figures"], s["suite"]
    lat = suites["latency"]["timings"]
    assert any(k.endswith(": total") for k in lat) and any(k.endswith(": first_audio") for k in lat)
    # every latency summary is a real measurement: min <= median <= p95
    for t in lat.values():
        assert 0 <= t["min"] <= t["median"] <= t["p95"]
