"""Personality-affected emotion transition (after Wen et al., Findings of ACL 2021).

``response VAD = preceding + P ⊙ Δ + S``: Δ is the change the context calls for, read from the
agent's previous and the user's utterance (each one's emotion probabilities and text VAD from
MiniLM tuned for affect, ``persona.context_encoder``), the user's perceived VAD and the
preceding emotion; P = 1 + tanh(W_a·T + b_a) is how strongly this persona is moved and
S = 0.5·tanh(W_s·T + b_s) where its responses lean, both from its temperament T (Mehrabian,
``persona.temperament``). A classifier over [context features, preceding emotion, response VAD]
names the response label: personality reaches it through the response VAD, as in Wen et al.
The heads are trained on PELD (``scripts/train_peld.py``, class-weighted for the rare emotions)
and run here in numpy: an ensemble whose probabilities are averaged.

PELD's six speakers span temperaments of about ±0.2 and our personas ±0.6. P and S are bounded
(tanh), so they take a persona's whole temperament without extrapolating; linear temperament
terms in the classifier would (and, learnt from six speakers, would name speakers, not traits).

:class:`EmotionEngine` is the runtime: it adds the persona's mood (decay, contagion:
``persona.mood``) around the learned step.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.core.affect import AffectEstimate, vad3
from persona.config import BigFive, Persona
from persona.config import Mood as MoodConfig
from persona.context_encoder import Context, ContextEncoder
from persona.emotion import LABELS, MAX_NORM, PROTOTYPE_MATRIX, Emotion, nearest_label
from persona.heads import gelu, load
from persona.mood import Mood, MoodDynamics, contagion, relax
from persona.temperament import temperament

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ the head


class TransitionHead:
    """The trained ensemble. ``personality=False`` loads the ablation (P ≡ 1, S ≡ 0, no temperament)."""

    def __init__(self, personality: bool = True) -> None:
        prefix = "full_" if personality else "base_"
        z = load("transition")
        self.personality = personality
        self._w = {k[len(prefix):]: v for k, v in z.items() if k.startswith(prefix)}
        if not self._w:
            raise ValueError(f"transition head has no {prefix!r} weights; run scripts/train_peld.py")

    def __call__(self, ctx: Context, pre_vad: np.ndarray, pre_label: np.ndarray,
                 temper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities ``(N, 7)`` and response VAD ``(N, 3)`` (ensemble means).

        ``pre_label``: index into :data:`LABELS` of the preceding emotion, ``temper`` (N, 3).
        """
        w = self._w
        temper = np.asarray(temper, dtype=np.float32)
        onehot = np.eye(7, dtype=np.float32)[pre_label]
        x = np.hstack([ctx.agent_emo, ctx.user_emo, ctx.agent_vad, ctx.user_vad, onehot, pre_vad]).astype(np.float32)
        h = gelu(np.einsum("nd,kdh->knh", x, w["w1"]) + w["b1"][:, None, :])
        delta = np.tanh(np.einsum("knh,kho->kno", h, w["wd"]) + w["bd"][:, None, :])
        r = pre_vad[None] + delta
        if self.personality:
            p = 1.0 + np.tanh(np.einsum("nd,kdo->kno", temper, w["wa"]) + w["ba"][:, None, :])
            shift = 0.5 * np.tanh(np.einsum("nd,kdo->kno", temper, w["ws"]) + w["bs"][:, None, :])
            r = pre_vad[None] + p * delta + shift
        r = np.clip(r, -1.0, 1.0)
        k = len(h)
        parts = [h, np.broadcast_to(x, (k, *x.shape)), r, np.broadcast_to(onehot, (k, *onehot.shape))]
        logits = np.einsum("knd,kdc->knc", np.concatenate(parts, axis=2), w["wc"]) + w["bc"][:, None, :]
        logits -= logits.max(axis=2, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=2, keepdims=True)
        return probs.mean(0), r.mean(0)


# ------------------------------------------------------------------------------ PELD data


@dataclass(frozen=True, slots=True)
class PeldRows:
    context: Context
    pre: np.ndarray  # (N,) index of the preceding emotion (Emotion_1)
    pre_vad: np.ndarray  # (N, 3) its prototype
    traits: np.ndarray  # (N, 5) O C E A N
    label: np.ndarray  # (N,) index of the response emotion (Emotion_3)

    def __len__(self) -> int:
        return len(self.label)


def read_peld(path: str | Path, limit: int | None = None, cached: bool = True,
              encoder: ContextEncoder | None = None) -> PeldRows:
    """A PELD split (TSV: Utterance_1..3, Emotion_1..3, Personality) ready for the head."""
    from agent.core.errors import UserError

    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such PELD file; pass --peld PATH/peld_valid.tsv "
                        f"or set AGENT_DATA_DIR") from None
    need = {"Utterance_1", "Utterance_2", "Emotion_1", "Emotion_3", "Personality"}
    if not rows or not need <= set(rows[0]):
        raise UserError(f"{path}: not a PELD TSV (needs columns {', '.join(sorted(need))})")
    rows = rows[:limit] if limit else rows
    encoder = encoder or ContextEncoder()
    ctx = encoder.encode([r["Utterance_1"] for r in rows], [r["Utterance_2"] for r in rows], cached=cached)
    pre = np.array([LABELS.index(r["Emotion_1"]) for r in rows], dtype=np.int64)
    return PeldRows(ctx, pre, PROTOTYPE_MATRIX[pre].copy(),
                    np.array([json.loads(r["Personality"]) for r in rows], dtype=np.float32),
                    np.array([LABELS.index(r["Emotion_3"]) for r in rows], dtype=np.int64))


def f1_scores(gold: np.ndarray, pred: np.ndarray, k: int = 7) -> np.ndarray:
    out = np.zeros(k)
    for c in range(k):
        tp = int(((pred == c) & (gold == c)).sum())
        fp = int(((pred == c) & (gold != c)).sum())
        fn = int(((pred != c) & (gold == c)).sum())
        out[c] = 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
    return out


def macro_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    return float(f1_scores(gold, pred).mean())


def scores(gold: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    f1 = f1_scores(gold, pred)
    support = np.bincount(gold, minlength=7) / max(1, len(gold))
    return {"accuracy": float((gold == pred).mean()), "macro_f1": float(f1.mean()),
            "weighted_f1": float((f1 * support).sum())}


# ------------------------------------------------------------------------------ runtime


FIT = 2.0  # how much the response point's direction counts against the classifier's odds
NEUTRAL_RADIUS = 0.25  # a response this near the persona's resting point fits "neutral"
OCC_ODDS = 3.0  # log-odds for happy-for / sorry-for, per unit of liking and of confidence


def _fitting_label(probs: np.ndarray, rel: np.ndarray) -> str:
    """The classifier's label, weighed by how well the response fits each emotion.

    ``rel`` is the response as a change from the persona's resting point: its direction says
    which emotion it is (a cheerful persona's "sad" is a fall from its own cheer, which may
    still be above zero), its length whether it is any at all. The classifier learnt what
    Friends characters answer (PELD); the point carries what this persona caught from this
    user (contagion, appraisal): a label the persona's own dynamics do not support loses.
    """
    norm = float(np.linalg.norm(rel))
    protos = PROTOTYPE_MATRIX.astype(np.float64)
    cos = protos @ rel / (np.linalg.norm(protos, axis=1) * max(norm, 1e-9) + 1e-12)
    i = LABELS.index("neutral")
    cos[i] = float(np.clip(1.0 - norm / NEUTRAL_RADIUS, -1.0, 1.0))
    score = np.log(np.clip(probs, 1e-9, None)) + FIT * cos
    return LABELS[int(np.argmax(score))]


class EmotionEngine:
    """The persona's feelings over a conversation.

    ``respond`` chooses the response emotion for a user turn; ``decay`` lets the emotion and mood
    relax between turns. Times are seconds on one monotonic clock (injected: tests use virtual
    time). Blocking (embeds text): call ``respond`` from a worker thread in a session.
    """

    def __init__(self, persona: Persona, encoder: ContextEncoder | None = None,
                 head: TransitionHead | None = None, personality: bool = True) -> None:
        """``personality=False`` is the ablation: the persona's traits read as average (mood,
        contagion, appraisal), its baseline neutral, and the head trained without personality."""
        if not personality:
            persona = persona.model_copy(update={
                "traits": BigFive(O=0.5, C=0.5, E=0.5, A=0.5, N=0.5), "baseline_mood": MoodConfig()})
        self.persona = persona
        self.dyn = MoodDynamics.from_persona(persona)
        self.mood = Mood(self.dyn)
        self.encoder = encoder or ContextEncoder()
        self.head = head or TransitionHead(personality=personality)
        self.temperament = temperament(persona.traits.as_tuple()).astype(np.float32)
        self.state = self._at(np.asarray(self.dyn.baseline, dtype=np.float64))
        self._t: float | None = None

    def _at(self, vad: np.ndarray, label: str | None = None) -> Emotion:
        """The emotion at ``vad``, labelled and scaled as a change from the persona's resting
        point (``label`` given, or the one that change points to)."""
        rel = np.asarray(vad, dtype=np.float64) - np.asarray(self.dyn.baseline, dtype=np.float64)
        label = label or _fitting_label(np.full(len(LABELS), 1.0 / len(LABELS)), rel)
        return Emotion(vad3(np.clip(vad, -1.0, 1.0)), label, min(1.0, float(np.linalg.norm(rel)) / MAX_NORM))

    def decay(self, now: float) -> Emotion:
        """The emotion after relaxing toward the mood (and the mood toward the baseline) until ``now``."""
        if self._t is None or now <= self._t:
            self._t = now if self._t is None else self._t
            return self.state
        dt = now - self._t
        self._t = now
        mood = self.mood.decay(dt)
        vad = relax(np.asarray(self.state.vad, dtype=np.float64), mood, dt, self.dyn.emotion_half_life)
        # relaxing keeps the label only while the change from rest still points to it
        self.state = self._at(vad)
        return self.state

    def respond(self, user_text: str, user_affect: AffectEstimate | None = None,
                agent_prev_text: str = "", now: float = 0.0) -> Emotion:
        """The response emotion to ``user_text`` (blocking: embeds both utterances)."""
        return self.respond_to(self.encoder.encode([agent_prev_text], [user_text]), user_text,
                               user_affect, now)

    def respond_to(self, ctx: Context, user_text: str, user_affect: AffectEstimate | None = None,
                   now: float = 0.0) -> Emotion:
        """:meth:`respond` for a context already encoded (one agent and one user utterance)."""
        preceding = self.decay(now)
        words = self.words_vad(ctx)
        if user_affect is not None and user_affect.confidence > 0.0:
            user_vad = 0.5 * (np.asarray(user_affect.vad, dtype=np.float64) + words)
            confidence = float(user_affect.confidence)
            # the fused estimate stands in for the words' VAD when it is more certain
            ctx = ctx.with_user_vad(np.asarray(user_affect.vad))
        else:
            user_vad = words
            confidence = 0.5 if user_text.strip() else 0.0
        hostility = float(ctx.user_emo[0, LABELS.index("anger")] + ctx.user_emo[0, LABELS.index("disgust")])
        threat = float(ctx.user_emo[0, LABELS.index("fear")])
        caught = contagion(np.asarray(preceding.vad, dtype=np.float64), user_vad, confidence, self.dyn,
                           hostility, threat)
        # the learned step works on the change from the persona's resting point: PELD's labels
        # are each character's departures from their own normal, and a cheerful persona's
        # neutral is its cheer, not zero
        rest = np.asarray(self.dyn.baseline, dtype=np.float64)
        pre = np.clip(caught - rest, -1.0, 1.0)
        pre_label = LABELS.index(nearest_label(pre))
        probs, r = self.head(ctx, pre[None].astype(np.float32), np.array([pre_label]), self.temperament[None])
        # what the persona catches from the user stays in the response beyond the learned step
        rel = np.clip(r[0] + (caught - np.asarray(preceding.vad)) * 0.5, -1.0, 1.0)
        label = _fitting_label(probs[0] * self._fortunes_of_user(user_vad, confidence), rel)
        self.state = self._at(rest + rel, label)
        self.mood.absorb(np.asarray(self.state.vad))
        self._t = now
        log.debug("emotion transition: %s -> %s", preceding.label, label)
        return self.state

    def _fortunes_of_user(self, user_vad: np.ndarray, confidence: float) -> np.ndarray:
        """Odds on each label from the user's fortunes (OCC: Ortony, Clore & Collins 1988): a
        persona that likes people (agreeableness above average) is happy for the user's good
        news and sorry for their loss."""
        liking = max(0.0, 2.0 * self.persona.traits.A - 1.0)
        odds = np.ones(len(LABELS))
        v = float(user_vad[0])
        if abs(v) > 0.05:
            odds[LABELS.index("joy" if v > 0 else "sadness")] = float(np.exp(OCC_ODDS * liking * confidence))
        return odds

    @staticmethod
    def words_vad(ctx: Context) -> np.ndarray:
        """What the user's words convey, on the prototypes' scale: the mean of the EmoBank VAD
        (readers rarely rate near the ends, so it is doubled) and the VAD of the utterance's
        emotion probabilities."""
        emobank = np.clip(2.0 * ctx.user_vad[0].astype(np.float64), -1.0, 1.0)
        return 0.5 * (emobank + ctx.user_emo[0].astype(np.float64) @ PROTOTYPE_MATRIX.astype(np.float64))

    def context_of(self, agent_text: str, agent_emb: np.ndarray, user_emb: np.ndarray) -> Context:
        """The context of one turn from the two utterances' embeddings (made once per turn)."""
        return self.encoder.from_embeddings([agent_text], agent_emb[None], user_emb[None])

    def warm_up(self, ctx: Context) -> None:
        """Run the head once on ``ctx`` (first-call allocations) without changing any state."""
        self.head(ctx, np.zeros((1, 3), np.float32), np.zeros(1, np.int64), self.temperament[None])

    def snapshot(self) -> object:
        """Everything ``respond_to`` changes (emotion, mood, clock), to undo a speculative turn."""
        return copy.deepcopy((self.state, self.mood, self._t))

    def restore(self, snapshot: object) -> None:
        self.state, self.mood, self._t = copy.deepcopy(snapshot)  # type: ignore[misc]

    def set_state(self, emotion: Emotion, now: float) -> None:
        """Take on ``emotion`` now (a plugin's or an operator's ``set_emotion``); it relaxes from here."""
        self.decay(now)
        self.state = emotion
        self._t = now

    # ---- rapport: the hook agent.memory uses; nothing else here depends on it
    def start_with(self, remembered_vad: tuple[float, float, float], confidence: float) -> Emotion:
        """Begin a conversation having caught the user's remembered affect as a present one is
        caught (``contagion``, at ``confidence``): mood and emotion start there and relax back
        to the baseline with the mood's half-life. A user who was low is met less cheerfully and
        less assertively (a worrier catches it as worry: its personality decides)."""
        caught = contagion(np.asarray(self.dyn.baseline, dtype=np.float64),
                           np.asarray(remembered_vad, dtype=np.float64), confidence, self.dyn)
        self.mood.vad = caught
        self.state = Emotion.from_vad(caught)
        self._t = None
        return self.state
