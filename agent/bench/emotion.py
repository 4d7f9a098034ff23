"""``agent bench emotion``: response-emotion prediction on PELD, next to baselines from the same
run, and whether the chosen emotions fit the moment for each persona.

Scores accuracy, macro-F1 and weighted-F1 (PELD is 43% neutral, so macro-F1 is the one that
matters) of the personality-affected transition head, and of three baselines: the majority
class, copying the preceding emotion, and the same transition trained without personality.
A paired bootstrap over the rows gives how often the full model beats copy-preceding and the
best baseline on macro-F1 and on weighted-F1. The scenario suite (``agent.bench.appropriate``)
gives ``appropriate responses`` with and without personality. ``ok`` is false when the full
model does not beat copy-preceding with P ≥ 0.95 on macro-F1 and on weighted-F1 outright, or
fits fewer than 90% of the scenarios.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from agent.bench.report import BenchOptions, Figure, Suite, Timing

QUICK_ROWS = 60
BOOTSTRAP = 1000


SCENARIO_BAR = 0.9
P_BAR = 0.95


def paired_bootstrap(gold: np.ndarray, a: np.ndarray, b: np.ndarray, seed: int,
                     metric: str = "macro_f1") -> float:
    """How often ``a`` beats ``b`` on ``metric`` over resamples of the rows: how much the gap
    could be luck of the split."""
    from persona.transition import scores

    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(gold), len(gold))
        wins += scores(gold[i], a[i])[metric] > scores(gold[i], b[i])[metric]
    return wins / BOOTSTRAP


def run(opts: BenchOptions) -> Suite:
    from perception.embeddings import affect_model_name
    from persona.emotion import LABELS
    from persona.heads import data_dir
    from persona.temperament import temperament
    from persona.transition import TransitionHead, read_peld, scores

    path = Path(opts.peld) if opts.peld else data_dir() / "peld" / "peld_valid.tsv"
    suite = Suite("emotion", models={"embeddings": affect_model_name(),
                                        "head": "persona/heads/transition.npz"})
    t0 = time.perf_counter()
    rows = read_peld(path, limit=QUICK_ROWS if opts.quick else None, cached=False)
    encode_s = time.perf_counter() - t0
    suite.timings.append(Timing("encode context (MiniLM + text VAD) per row", [1000 * encode_s / len(rows)]))

    full, base = TransitionHead(personality=True), TransitionHead(personality=False)
    temper = temperament(rows.traits).astype(np.float32)
    t0 = time.perf_counter()
    full_probs, _ = full(rows.context, rows.pre_vad, rows.pre, temper)
    head_s = time.perf_counter() - t0
    base_probs, _ = base(rows.context, rows.pre_vad, rows.pre, temper)
    suite.timings.append(Timing("transition head per row", [1000 * head_s / len(rows)]))

    majority = int(np.bincount(rows.label, minlength=7).argmax())
    predictions = {
        "majority class": np.full(len(rows), majority),
        "copy preceding": rows.pre,
        "transition w/o personality": base_probs.argmax(1),
        "full model": full_probs.argmax(1),
    }
    results = {name: scores(rows.label, pred) for name, pred in predictions.items()}
    for name, s in results.items():
        for metric, value in s.items():
            suite.figures.append(Figure(f"{name}: {metric}", round(value, 4)))
    best_name, best = max(((n, s) for n, s in results.items() if n != "full model"),
                          key=lambda item: item[1]["macro_f1"])
    ours = results["full model"]
    chances: dict[tuple[str, str], float] = {}
    for rival in dict.fromkeys(("copy preceding", best_name)):
        for metric in ("macro_f1", "weighted_f1"):
            chances[rival, metric] = paired_bootstrap(rows.label, predictions["full model"],
                                                      predictions[rival], opts.seed, metric)
            suite.figures.append(Figure(f"bootstrap P(full > {rival}), {metric}", round(chances[rival, metric], 3)))
    copy = results["copy preceding"]
    suite.ok = (chances["copy preceding", "macro_f1"] >= P_BAR and ours["weighted_f1"] > copy["weighted_f1"]
                and ours["macro_f1"] > best["macro_f1"])
    suite.notes.append(f"{path.name}: {len(rows)} rows; majority class = {LABELS[majority]}")
    suite.notes.append(f"full model macro-F1 {ours['macro_f1']:.4f} vs best baseline ({best_name}) "
                       f"{best['macro_f1']:.4f}; weighted-F1 {ours['weighted_f1']:.4f} vs copy preceding "
                       f"{copy['weighted_f1']:.4f}")
    if opts.quick:
        suite.notes.append(f"--quick: first {QUICK_ROWS} rows only; figures are not comparable")
        suite.ok = True  # too few rows to judge; quick only keeps the code path alive
    _scenarios(suite, opts)
    return suite


def _scenarios(suite: Suite, opts: BenchOptions) -> None:
    """The appropriateness suite over the shipped personas, with and without personality."""
    from agent.bench.appropriate import checks, fraction, models
    from persona.config import load_personas

    t0 = time.perf_counter()
    personas = load_personas()
    if opts.quick:
        personas = dict(list(personas.items())[:2])
    parts = models()
    full = checks(personas, True, opts.quick, parts)
    base = checks(personas, False, opts.quick, parts)
    suite.timings.append(Timing("scenario suite (both variants)", [time.perf_counter() - t0], "s"))
    f_full, f_base = fraction(full), fraction(base)
    suite.figures.append(Figure("appropriate responses", round(f_full, 4)))
    suite.figures.append(Figure("appropriate responses w/o personality", round(f_base, 4)))
    for kind in dict.fromkeys(c.kind for c in full):
        suite.figures.append(Figure(f"appropriate responses: {kind}",
                                    round(fraction([c for c in full if c.kind == kind]), 4)))
    suite.notes.append(f"scenarios: {len(full)} checks over {len(personas)} personas "
                       f"(loss, good news, insult, threat, challenge)")
    suite.notes += [f"scenario failed: {c.kind} / {c.persona}: {c.text!r} -> {c.why}" for c in full if not c.ok][:12]
    if not opts.quick and (f_full < SCENARIO_BAR or f_base >= f_full):
        suite.ok = False
