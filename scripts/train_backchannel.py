#!/usr/bin/env python
"""Train the backchannel head: is speech that starts over the agent an acknowledgement or a turn?

Every example is heard the way the live agent hears it. An agent line (an EmoBank sentence,
espeak-ng) plays, its echo comes back through a simulated room with noise, and 3-4.5 s in the
user starts: an acknowledgement ("yeah", "uh-huh", "mm-hm", ...) or the opening of a turn (an
utterance from PELD's Friends dialogues, or an EmoBank sentence). The real echo gate, silero-vad
and segmenter find the onset, and at every look the barge-in logic would take (from about 120 to
340 ms after the VAD onset) Whisper tiny.en's ``first_look`` is kept: the encoder frames over
the onset and the decoder's first-word log-probabilities.

Voices: espeak-ng's English voices and variants for training, a quarter of the variants held
out for validation (they choose the head's size, its weight decay and the operating point). The
project's Piper voice never enters training or validation: it is the test split here, and the
test voice of ``agent bench perception`` and of the tests, so those measure a voice the head has
not heard. Turns that open with an acknowledgement or a filler ("yeah, but", "um, so") are left
out: at 250 ms they *are* one. The head is one hidden layer (GELU), class-balanced.

    python scripts/train_backchannel.py [--seed 0] [--out persona/heads/backchannel.npz] [--looks PKL]

Synthesized audio is cached under ~/.cache/embodied-agent/speech (never in the repository);
hearing ~4,400 examples takes about 30 minutes on 2 cores (``--looks`` keeps them for re-runs).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.bench.speech import PiperLines, espeak, mix, room_echo  # noqa: E402
from agent.turns import BACKCHANNELS, Look, TurnConfig, words_of  # noqa: E402
from perception.audio_source import FRAME_S, SAMPLE_RATE  # noqa: E402
from persona.heads import data_dir  # noqa: E402
from persona.heads.training import epoch, mlp_weights  # noqa: E402

ACKS = ("yeah", "yes", "yep", "yup", "uh-huh", "mm-hm", "mhm", "mm", "hmm", "okay", "right", "sure",
        "I see", "got it", "cool", "nice", "wow", "aha", "exactly", "true", "all right", "yeah yeah",
        "okay okay", "right right", "mm-hm yeah", "yes yes")
LANGUAGES = ("en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan")
# whispered, robotic and distorted variants are not voices a microphone meets
ODD = {"whisper", "whisperf", "Demonic", "croak", "UniRobot", "anikaRobot", "fast"}
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "embodied-agent" / "speech"


@dataclass(frozen=True)
class Voice:
    language: str
    variant: str
    speed: int
    pitch: int

    @property
    def name(self) -> str:
        return f"{self.language}+{self.variant}" if self.variant else self.language

    def say(self, text: str) -> np.ndarray:
        return espeak(text, voice=self.name, speed=self.speed, pitch=self.pitch, cache=CACHE)


class PiperVoice:
    """The test voice: the project's Piper voice at a given pace (never trained on)."""

    lines: PiperLines | None = None

    def __init__(self, length_scale: float) -> None:
        self.length_scale = length_scale
        self.name = f"piper@{length_scale:g}"

    def say(self, text: str) -> np.ndarray:
        if PiperVoice.lines is None:
            PiperVoice.lines = PiperLines()
        return PiperVoice.lines.say(text, length_scale=self.length_scale)


def variants() -> list[str]:
    out = subprocess.run(["espeak-ng", "--voices=variant"], check=True, capture_output=True, text=True).stdout
    names = [line.split()[4].split("/")[-1] for line in out.splitlines()[1:] if len(line.split()) > 4]
    names = sorted({n for n in names if n not in ODD and not n.startswith("robosoft")})
    # the tests' espeak voices (plain en-us, the agent's f3) are not trained on either
    return [n for n in names if n != "f3"]


FILLERS = {"uh", "um", "er", "erm", "hmm", "mm", "ah", "uhm", "huh"}


def is_turn_opening(text: str) -> bool:
    words = words_of(text)
    if not words or words[0] in FILLERS or words[0] in BACKCHANNELS or " ".join(words[:2]) in BACKCHANNELS:
        return False
    return words[0] != "oh" or len(words) > 1 and words[1] not in BACKCHANNELS  # "oh, okay" is one


def turn_texts(split: str) -> list[str]:
    """Utterances from PELD (conversational) and EmoBank (written), deduplicated."""
    root = data_dir()
    texts: list[str] = []
    peld = root / "peld" / ("peld_train.tsv" if split == "train" else "peld_valid.tsv")
    with peld.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            texts += [row["Utterance_1"], row["Utterance_2"], row["Utterance_3"]]
    with (root / "emobank" / "emobank_train_dev.csv").open(newline="", encoding="utf-8") as f:
        bank = [r["text"] for r in csv.DictReader(f) if r["split"] == ("train" if split == "train" else "dev")]
    texts += bank[: len(bank) // 4]
    seen, out = set(), []
    for t in texts:
        t = " ".join(t.split())
        if 2 <= len(t) <= 200 and t.lower() not in seen and is_turn_opening(t):
            seen.add(t.lower())
            out.append(t)
    return out


def agent_lines() -> list[str]:
    with (data_dir() / "emobank" / "emobank_train_dev.csv").open(newline="", encoding="utf-8") as f:
        return [r["text"] for r in csv.DictReader(f) if r["split"] == "train" and 18 <= len(r["text"].split()) <= 40]


class Capture:
    """Turn-taking whose every look at an onset is recorded and says "look again", so one pass
    yields the whole schedule of looks (the features of each)."""

    def __init__(self, judge) -> None:
        self.judge = judge
        # (input t, since the VAD onset, frames, words)
        self.looks: list[tuple[float, float, np.ndarray, np.ndarray]] = []

    def taker(self, bus, hearing, config):
        from agent.turn_taking import TurnTaker

        capture = self

        class Taker(TurnTaker):
            def _sound(self, audio: np.ndarray) -> tuple[float, bool]:
                frames, words = capture.judge.look(audio)
                capture.looks.append((self._now, self._now - self.barge.onset, frames.astype(np.float16), words))
                return 0.5, False

            def _verdict(self, p: float, since_onset: float, hum: bool = False) -> Look:
                return Look.NOT_YET

        return Taker(bus, hearing, config, judge=capture.judge)


async def hear(scene: np.ndarray, agent: np.ndarray, agent_at: float, vad, judge) -> Capture:
    from agent.core.bus import EventBus
    from perception.audio_source import ArrayAudioSource
    from perception.echo import EchoReference
    from perception.hearing import Hearing

    echo = EchoReference()
    echo.push(agent, SAMPLE_RATE, agent_at)
    capture = Capture(judge)
    # every look says "look again" until 340 ms; nothing is transcribed, re-checked or paused
    config = TurnConfig(decide_by=0.34, backchannel_max=99.0, held_recheck=99.0, held_pause_after=99.0)
    bus = EventBus()
    hearing = Hearing(bus, ArrayAudioSource(scene, clock=lambda: 0.0), None, vad, None, echo)
    taker = capture.taker(bus, hearing, config)
    hearing.listener = taker
    taker.agent_speaking = True
    await hearing.run()
    return capture


def espeak_voice(rng: np.random.Generator, variants: list[str]) -> Voice:
    return Voice(str(rng.choice(LANGUAGES)), str(rng.choice(variants)), int(rng.integers(130, 200)),
                 int(rng.integers(25, 85)))


def examples(split: str, rng: np.random.Generator, n_acks: int, n_turns: int, user_voice, agent_voice,
             turns: list[str], lines: list[str], headphones: bool = False) -> list[tuple]:
    """(split, is an acknowledgement, user voice, text, agent voice, room, example id) for each
    example; with ``headphones`` the agent plays but none of it reaches the microphone."""
    out = []
    for i in range(n_acks + n_turns):
        ack = i < n_acks
        text = ACKS[i % len(ACKS)] if ack else str(rng.choice(turns))
        room = {"user_at": float(rng.uniform(3.0, 4.5)), "delay": float(rng.uniform(0.02, 0.1)),
                "echo_gain": float(rng.uniform(0.3, 0.75)), "noise_db": float(rng.uniform(-58, -40)),
                "user_gain": float(rng.uniform(0.35, 0.8)), "seed": int(rng.integers(1 << 30))}
        if headphones:
            room["echo_gain"] = 0.0
        out.append((split, ack, user_voice(i), text, agent_voice(i), room | {"line": str(rng.choice(lines))},
                    f"{split}{'-headphones' if headphones else ''}{i}"))
    return out


async def collect(rows, vad, judge, log_every: int = 100) -> tuple[list, list[str]]:
    """→ the looks (split, ack, text, voice, look t after the true onset, after the VAD onset,
    frames, words, example id), and the ids of the examples that got no look."""
    data, missed = [], []
    t0 = time.time()
    for i, (split, ack, uvoice, text, avoice, room, example) in enumerate(rows):
        user = uvoice.say(text)
        agent = avoice.say(room["line"])
        if len(agent) / SAMPLE_RATE < room["user_at"] + 0.6:
            agent = np.concatenate([agent, avoice.say(room["line"])])
        agent_at = 0.3
        onset = agent_at + room["user_at"]
        length = onset + min(len(user) / SAMPLE_RATE, 0.45) + 0.1
        parts = [(onset, user[: int(0.6 * SAMPLE_RATE)], room["user_gain"])]
        if room["echo_gain"] > 0:
            parts.append((agent_at, room_echo(agent, room["delay"], room["echo_gain"], room["seed"]), 1.0))
        scene = mix(length, parts, noise_db=room["noise_db"], seed=room["seed"])
        capture = await hear(scene, agent, agent_at, vad, judge)
        if not capture.looks:
            missed.append(example)
        for t, since_vad, frames, words in capture.looks:
            data.append((split, ack, text, uvoice.name, t - onset, since_vad, frames, words, example))
        if (i + 1) % log_every == 0:
            print(f"  {i + 1}/{len(rows)} examples, {len(data)} looks, {len(missed)} without a look, "
                  f"{time.time() - t0:.0f}s", flush=True)
    return data, missed


def fit(x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, hidden: int, decay: float,
        seed: int, epochs: int = 150) -> tuple[dict[str, np.ndarray], float]:
    """One hidden layer (GELU), classes weighted equally, AdamW; the epoch with the lowest
    validation log-loss is kept. → (weights, that log-loss)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.GELU(approximate="tanh"), nn.Dropout(0.3),
                          nn.Linear(hidden, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=decay)
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    xvt, yvt = torch.from_numpy(xv).float(), torch.from_numpy(yv).float()
    pos = float(y.mean())
    weight = torch.where(yt > 0, 0.5 / pos, 0.5 / (1 - pos))
    wv = torch.where(yvt > 0, 0.5 / float(yv.mean()), 0.5 / (1 - float(yv.mean())))
    gen = torch.Generator().manual_seed(seed)
    best: tuple[float, dict[str, np.ndarray]] | None = None
    for _ in range(epochs):
        epoch(model, opt, len(xt), 256, gen, lambda b: nn.functional.binary_cross_entropy_with_logits(
            model(xt[b])[:, 0], yt[b], weight=weight[b]))
        with torch.no_grad():
            vloss = float(nn.functional.binary_cross_entropy_with_logits(model(xvt)[:, 0], yvt, weight=wv))
        if best is None or vloss < best[0]:
            w = mlp_weights(model)
            best = (vloss, w | {"w2": w["w2"][:, 0], "b2": w["b2"][0]})
    assert best is not None
    return best[1], best[0]


def policy(groups: dict, p_of, hold_above: float, pause_below: float, decide_by: float,
           deadline: float = 0.3) -> dict[str, float]:
    """Replay the barge-in looks as ``OnsetJudge`` and ``BargeIn`` take them. → the shares of
    acknowledgements held (the agent talks on) and paused (it goes quiet until the words
    decide), and of turns that did not make the agent go quiet within ``deadline`` of their true
    onset (held as acknowledgements, paused too late, or never looked at)."""
    out = {"ack_held": 0, "ack_paused": 0, "turns_missed": 0}
    n_ack = n_turn = 0
    for (ack, _), looks in groups.items():
        decision, when = None, 0.0
        for t, since_vad, i in sorted(looks, key=lambda lk: lk[0]):
            last = since_vad + FRAME_S > decide_by + 1e-9
            p = p_of(i)
            decision = "held" if p >= hold_above else "paused" if p <= pause_below or last else None
            when = t
            if decision is not None:
                break
        if ack:
            n_ack += 1
            out["ack_held"] += decision != "paused"
            out["ack_paused"] += decision == "paused"
        else:
            n_turn += 1
            out["turns_missed"] += decision != "paused" or when >= deadline
    return {k: v / max(n_ack if k.startswith("ack") else n_turn, 1) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "persona" / "heads" / "backchannel.npz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--acks", type=int, default=1300, help="training acknowledgements")
    ap.add_argument("--turns", type=int, default=2000, help="training turn openings")
    ap.add_argument("--val", type=int, default=660, help="validation examples (2 turns : 1 acknowledgement)")
    ap.add_argument("--test", type=int, default=480, help="Piper test examples (same mix)")
    ap.add_argument("--looks", type=Path, default=None,
                    help="keep the heard looks here (a .pkl) and reuse them on the next run")
    args = ap.parse_args()

    from perception.asr import WhisperAsr
    from perception.backchannel import BackchannelHead, OnsetJudge, onset_features
    from perception.vad import SileroVad

    if not (data_dir() / "peld" / "peld_train.tsv").exists():
        print(f"train_backchannel: no PELD/EmoBank data at {data_dir()}; set AGENT_DATA_DIR", file=sys.stderr)
        return 2
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    names = variants()
    held = set(rng.choice(names, size=len(names) // 4, replace=False))
    train_v, val_v = [n for n in names if n not in held], sorted(held)
    lines, train_turns, valid_turns = agent_lines(), turn_texts("train"), turn_texts("valid")
    paces = [PiperVoice(s) for s in (0.85, 1.0, 1.15)]
    n_val_acks, n_test_acks = args.val // 3, args.test // 3
    rows = (examples("train", rng, args.acks, args.turns, lambda i: espeak_voice(rng, train_v),
                     lambda i: espeak_voice(rng, train_v), train_turns, lines)
            + examples("val", rng, n_val_acks, args.val - n_val_acks, lambda i: espeak_voice(rng, val_v),
                       lambda i: espeak_voice(rng, val_v), valid_turns, lines)
            + examples("test", rng, n_test_acks, args.test - n_test_acks, lambda i: paces[i % 3],
                       lambda i: espeak_voice(rng, val_v), valid_turns, lines))
    # a sixth more with headphones: the agent plays, the microphone hears only the user
    hp = np.random.default_rng(args.seed + 1000)
    rows += (examples("train", hp, args.acks // 6, args.turns // 6, lambda i: espeak_voice(hp, train_v),
                      lambda i: espeak_voice(hp, train_v), train_turns, lines, headphones=True)
             + examples("val", hp, n_val_acks // 6, (args.val - n_val_acks) // 6, lambda i: espeak_voice(hp, val_v),
                        lambda i: espeak_voice(hp, val_v), valid_turns, lines, headphones=True)
             + examples("test", hp, n_test_acks // 6, (args.test - n_test_acks) // 6, lambda i: paces[i % 3],
                        lambda i: espeak_voice(hp, val_v), valid_turns, lines, headphones=True))
    print(f"{len(rows)} examples; {len(train_v)} training variants, {len(val_v)} held out: {', '.join(val_v)}")

    asr, vad = WhisperAsr(), SileroVad()
    placeholder = {"mean": np.zeros(1), "scale": np.ones(1), "w1": np.zeros((1, 1)), "b1": np.zeros(1),
                   "w2": np.zeros(1), "b2": np.float32(0), "width": np.int32(0),
                   "hold_above": np.float32(1), "pause_below": np.float32(0), "decide_by": np.float32(1)}
    judge = OnsetJudge(asr, BackchannelHead(placeholder))
    data, missed = [], []
    if args.looks is not None and args.looks.exists():
        with args.looks.open("rb") as f:
            data, missed = pickle.load(f)
    done = {d[8] for d in data} | set(missed)
    todo = [r for r in rows if r[6] not in done]
    if todo:
        t0 = time.time()
        more, more_missed = asyncio.run(collect(todo, vad, judge))
        data, missed = data + more, missed + more_missed
        print(f"heard {len(todo)} examples in {time.time() - t0:.0f}s")
        if args.looks is not None:
            with args.looks.open("wb") as f:
                pickle.dump((data, missed), f)
    print(f"{len(data)} looks; {len(missed)} of {len(rows)} examples had none (the gate or VAD missed the onset)")

    split = np.array([d[0] for d in data])
    y = np.array([d[1] for d in data], np.float64)
    x = np.stack([onset_features(d[6].astype(np.float32), d[7]) for d in data]).astype(np.float64)
    tr, va, te = split == "train", split == "val", split == "test"
    mean, scale = x[tr].mean(0), x[tr].std(0) + 1e-6
    z = (x - mean) / scale

    def groups_of(mask: np.ndarray) -> dict:
        """Looks grouped by example."""
        g: dict = {}
        for i in np.nonzero(mask)[0]:
            g.setdefault((bool(data[i][1]), data[i][8]), []).append((data[i][4], data[i][5], i))
        return g

    best = None
    for hidden in (32, 64, 128):
        for decay in (0.1, 1.0):
            weights, vloss = fit(z[tr], y[tr], z[va], y[va], hidden, decay, args.seed)
            p = _prob(weights, z[va])
            print(f"hidden {hidden}, weight decay {decay}: validation looks accuracy "
                  f"{np.mean((p >= 0.5) == (y[va] > 0)):.3f}, log-loss {vloss:.3f}")
            if best is None or vloss < best[0]:
                best = (vloss, hidden, decay, weights)
    _, hidden, decay, weights = best
    p_all = _prob(weights, z)

    def replay(mask: np.ndarray, hold: float, pause: float, decide_by: float) -> dict[str, float]:
        return policy(groups_of(mask), lambda i: float(p_all[i]), hold, pause, decide_by)

    def cost(r: dict[str, float]) -> float:
        # a turn that does not quiet the agent in time costs twice a pause for an "uh-huh" (the
        # agent goes quiet, then goes on); the words, not the head, decide what interrupts
        return r["ack_paused"] + 2 * r["turns_missed"]

    grid = [(hold, pause, by) for hold in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95) for pause in (0.4, 0.3, 0.2, 0.1, 0.05)
            for by in (0.18, 0.2, 0.22, 0.24, 0.26)]
    hold, pause, decide_by = min(grid, key=lambda g: cost(replay(va, *g)))
    val, test = replay(va, hold, pause, decide_by), replay(te, hold, pause, decide_by)
    acc = {name: float(np.mean((p_all[m] >= 0.5) == (y[m] > 0)))
           for name, m in (("train", tr), ("val", va), ("test", te))}
    print(f"chosen: hidden {hidden}, weight decay {decay}, hold above {hold}, pause below {pause}, "
          f"decide by {decide_by * 1000:.0f} ms after the VAD onset")
    print(f"  looks accuracy: train {acc['train']:.3f}, validation {acc['val']:.3f}, Piper test {acc['test']:.3f}")
    for name, r in (("held-out espeak voices", val), ("Piper (never trained on)", test)):
        print(f"  {name}: acknowledgements held {r['ack_held']:.1%}, paused {r['ack_paused']:.1%}; turns not "
              f"quieting the agent within 300 ms {r['turns_missed']:.1%} (the gate's misses included)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, mean=mean.astype(np.float32), scale=scale.astype(np.float32),
                        **{k: v.astype(np.float16) for k, v in weights.items()},
                        width=np.int32(data[0][6].shape[1]), hold_above=np.float32(hold),
                        pause_below=np.float32(pause), decide_by=np.float32(decide_by))
    meta = {"seed": args.seed, "hidden": hidden, "weight_decay": decay, "features": int(x.shape[1]),
            "width": int(data[0][6].shape[1]), "hold_above": hold, "pause_below": pause, "decide_by": decide_by,
            "examples": {"train": args.acks + args.turns, "val": args.val, "test": args.test},
            "looks": {k: int(m.sum()) for k, m in (("train", tr), ("val", va), ("test", te))},
            "without_a_look": len(missed), "looks_accuracy": {k: round(v, 4) for k, v in acc.items()},
            "validation": {k: round(v, 4) for k, v in val.items()},
            "piper_test": {k: round(v, 4) for k, v in test.items()},
            "held_out_variants": val_v, "model": asr.name}
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


def _prob(weights: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    from persona.heads import gelu

    logit = gelu(z @ weights["w1"] + weights["b1"]) @ weights["w2"] + weights["b2"]
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))


if __name__ == "__main__":
    sys.exit(main())
