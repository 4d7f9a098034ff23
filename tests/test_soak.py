"""The soak's verdict from its measurements (agent.bench.soak.report); the soak itself runs the
real session for minutes (``agent bench soak``, and ``--quick`` in test_bench_quick)."""

from __future__ import annotations

import os
import threading

from agent.bench.soak import Sample, Soak, open_files, os_threads, report, rss_mb


def soak(minutes=30.0, rss_end=910.0, lat_last=1.1, files_end=12, threads_end=20, env=()):
    """A 30-minute soak sampled every minute: memory settles at 900 MB in the first window,
    latency is 1.0 s at first; the end is as given."""
    r = Soak(minutes)
    r.before = Sample(0, 300.0, 9, 2, 1)
    r.after = Sample(minutes * 60, rss_end, 9, 6, 1)
    n = int(minutes)
    for i in range(n + 1):
        rss = 850 + 10 * i if i <= 5 else 900 + (rss_end - 900) * (i - 5) / (n - 5)
        last = i == n
        r.samples.append(Sample(i * 60.0, rss, files_end if last else 12, threads_end if last else 20, 9))
    r.latency = [(t, 1.0 if t <= 300 else lat_last) for t in range(10, int(minutes * 60), 20)]
    r.turns, r.deepest, r.env_changed = len(r.latency), (3, "session"), list(env)
    return r


def figure(suite, name):
    return next(f.value for f in suite.figures if f.name == name)


def test_a_steady_session_passes_with_its_figures():
    suite = report(soak())
    assert suite.ok, suite.notes
    assert figure(suite, "window for first / last (minutes)") == 5.0
    assert figure(suite, "memory growth, end of first window → end") == 10.0
    assert figure(suite, "latency drift, last / first window (median)") == 1.1
    assert 0 < figure(suite, "memory slope after the first window") < 30  # MB/h
    assert figure(suite, "deepest bus queue seen") == 3
    assert figure(suite, "threads (OS), before build → after close") == 4


def test_growth_drift_leaks_and_environment_changes_each_fail_it():
    assert not report(soak(rss_end=925.0)).ok  # 25 MB more memory
    assert not report(soak(lat_last=1.3)).ok  # 1.3x slower
    assert not report(soak(files_end=13)).ok  # a file handle more than after the first window
    assert not report(soak(threads_end=21)).ok
    failed = report(soak(env=["HF_HUB_OFFLINE"]))
    assert not failed.ok and "environment changed: HF_HUB_OFFLINE" in failed.notes


def test_a_short_soak_compares_thirds():
    suite = report(soak(minutes=6.0))
    assert figure(suite, "window for first / last (minutes)") == 2.0


def test_a_soak_too_short_for_two_windows_judges_the_rest():
    r = soak()
    r.latency = r.latency[-1:]  # one turn: nothing to compare
    suite = report(r)
    assert suite.ok and "too short to compare" in " ".join(suite.notes)
    r.samples[-1].files += 1
    assert not report(r).ok


def test_process_figures_read_this_process():
    assert 10 < rss_mb() < 100_000
    before = open_files()
    with open(os.devnull):
        assert open_files() == before + 1
    assert open_files() == before
    assert os_threads() >= threading.active_count()
