"""Exercises of Chapter 2, Lab 2 (post-training): the SFT loss, a persona shift and one EM step.

Book: Chapter 2, Lab 2; the equations are those of Chapter 2 (sections *Supervised
fine-tuning*, *The PSM residual* and *Persona vectors*):

    L_SFT = - sum_t m_t log p(x_t | x_<t) / sum_t m_t,   m_t = 1 iff x_t is in a reply    (2.1)
    w* = argmax_w sum_x sum_k pi(k|x) log sum_p w_p q_p(k|x), solved by EM steps          (2.2)
    v_{A-B} = mean_{x ~ A} h(x) - mean_{x ~ B} h(x)                                       (2.4)

The references mirror the library: :func:`personalab.train.loop.lm_loss` with the reply mask
of :mod:`personalab.train.sft`, :func:`personalab.evals.psm.em_step` and
:func:`personalab.interp.persona_vectors.projection` (tests keep them in agreement). Each
exercise has a reference solution, test cases whose last one is an extreme case, and the
known mistakes its checker recognises. In the lab::

    from personalab.exercises.ch02 import check_sft_loss
    check_sft_loss(sft_loss)

A mistake's ``impl`` is written as a learner first writes it -- ``log(softmax(.))``, a plain
division -- where that is inf or NaN on the extreme case: the checker does not compare
non-finite outputs of a mistake, so its hint fires whether or not the learner's function
also survives the extreme case (which the last mistake of 2.1 and 2.3 then points out).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .core import Exercise, Mistake, ShapeHintExercise, exercise_checker

PAD, BOS = 0, 1  # token ids of the 2.1 cases; every other token id is >= 2

# ---------------------------------------------------------------------------------------------
# Exercise 2.1: the SFT loss on the assistant's replies, eq. (2.1)


def sft_loss(logits: torch.Tensor, tokens: torch.Tensor, reply_mask: torch.Tensor) -> torch.Tensor:
    """Reference for exercise 2.1. Book: Chapter 2, Lab 2; Chapter 2, eq. (2.1).

    Args:
        logits: (B, T-1, V) the model's next-token logits; ``logits[:, t]`` predicts ``tokens[:, t + 1]``.
        tokens: (B, T) long, the documents (``<bos>`` first, padding last).
        reply_mask: (B, T) bool, True where ``tokens`` holds a token of an assistant reply.
    Returns:
        0-dim tensor: the mean next-token cross-entropy over the targets that are reply tokens.
    """
    targets = tokens[:, 1:]  # (B, T-1): the token each position predicts
    mask = reply_mask[:, 1:].to(logits.dtype)  # (B, T-1): m_t of the *target* token, not the input's
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T-1), log-softmax inside
    return (nll * mask).sum() / mask.sum()


def _chat_case(
    rng: np.random.Generator, B: int, T: int, V: int, scale: float = 2.0, max_pad: int = 0, ruled_out: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch of dialogues: user turns and assistant replies of 2-4 tokens, padding at the end.

    ``ruled_out`` reply targets get logit -1e4: the model is sure they cannot come next, so
    their probability underflows to exactly 0 in softmax but their log-probability is finite.
    """
    tokens = rng.integers(2, V, size=(B, T))
    mask = np.zeros((B, T), dtype=bool)
    for b in range(B):
        length = T - int(rng.integers(0, max_pad + 1))
        tokens[b, 0], tokens[b, length:] = BOS, PAD
        t = 1 + int(rng.integers(1, 4))  # a reply starts after the first user turn
        while t < length - 2:
            reply = int(rng.integers(2, 5))
            mask[b, t : min(t + reply, length - 1)] = True  # the token after a reply is the user's
            t += reply + int(rng.integers(1, 4))
    logits = rng.standard_normal((B, T - 1, V)) * scale  # (B, T-1, V)
    b_idx, t_idx = np.nonzero(mask[:, 1:])
    for i in rng.choice(len(b_idx), size=ruled_out, replace=False):
        logits[b_idx[i], t_idx[i], tokens[b_idx[i], t_idx[i] + 1]] = -1e4
    return torch.from_numpy(logits), torch.from_numpy(tokens), torch.from_numpy(mask)


def _sft_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    rng = np.random.default_rng(201)
    return [
        _chat_case(rng, B=2, T=12, V=7),
        _chat_case(rng, B=3, T=16, V=10, max_pad=4),  # padded rows: pad targets are never replies
        _chat_case(rng, B=4, T=20, V=13, max_pad=6),
        # numerical stability: logits x 100, and reply tokens the model rules out (logit -1e4)
        _chat_case(rng, B=3, T=14, V=11, scale=100.0, max_pad=3, ruled_out=2),
    ]


def _naive_nll(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T-1) -log softmax(logits)[target], as a learner first writes it (inf where softmax underflows)."""
    probs = torch.softmax(logits, dim=-1)
    return -torch.log(probs.gather(-1, tokens[:, 1:, None]).squeeze(-1))


def _masked_mean(nll: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(nll.dtype)
    return (nll * m).sum() / m.sum()


SFT_LOSS = Exercise(
    id="2.1",
    title="sft_loss",
    difficulty=2,
    minutes=15,
    signature='''def sft_loss(logits: torch.Tensor, tokens: torch.Tensor, reply_mask: torch.Tensor) -> torch.Tensor:
    """The SFT loss, eq. (2.1): next-token cross-entropy on the assistant's replies only.

    logits:     (B, T-1, V) float; logits[:, t] predicts tokens[:, t + 1]. May be x 100, or -1e4.
    tokens:     (B, T) long; <bos> first, padding last.
    reply_mask: (B, T) bool, True where tokens[b, t] belongs to an assistant reply.
    Returns the mean cross-entropy over the target positions whose token is a reply token (0-dim).
    """''',
    reference=sft_loss,
    cases=_sft_cases,
    mistakes=[
        Mistake(
            "no_mask",
            "Your loss counts every target, including the user's turns and the padding. SFT trains on "
            "the assistant's replies only (eq. 2.1): average over the targets where reply_mask[:, 1:] is True.",
            lambda z, x, m: _naive_nll(z, x).mean(),
        ),
        Mistake(
            "mask_off_by_one",
            "Your mask is shifted by one: logits[:, t] predicts tokens[:, t + 1], so the target's mask is "
            "reply_mask[:, 1:], not reply_mask[:, :-1] (which counts the token after each reply and "
            "drops the first one).",
            lambda z, x, m: _masked_mean(_naive_nll(z, x), m[:, :-1]),
        ),
        Mistake(
            "all_targets_denominator",
            "Your loss is too small: you summed the reply tokens' losses but divided by the number of all "
            "targets. Divide by the number of reply targets, reply_mask[:, 1:].sum() (eq. 2.1).",
            lambda z, x, m: (_naive_nll(z, x) * m[:, 1:]).sum() / m[:, 1:].numel(),
        ),
        Mistake(
            "mean_of_row_means",
            "You averaged each row's mean loss: the batch loss pools the reply tokens of all rows "
            "(sum of their losses / number of reply targets in the batch, as lm_loss does), so a "
            "short reply does not weigh as much as a long one.",
            lambda z, x, m: ((_naive_nll(z, x) * m[:, 1:]).sum(1) / m[:, 1:].sum(1)).mean(),
        ),
        Mistake(
            "log_of_softmax",
            "Your loss is not finite on the numerical-stability case (logits x 100, a reply token at "
            "logit -1e4): softmax underflows to 0 and log(0) = -inf. Use F.cross_entropy (or "
            "F.log_softmax) on the raw logits.",
            lambda z, x, m: _masked_mean(_naive_nll(z, x), m[:, 1:]),
        ),
    ],
)


# ---------------------------------------------------------------------------------------------
# Exercise 2.2: how far a model has moved along a persona vector, eq. (2.4) and monitoring


def persona_shift(acts_a: np.ndarray, acts_b: np.ndarray, acts_model: np.ndarray) -> float:
    """Reference for exercise 2.2. Book: Chapter 2, Lab 2; Chapter 2, eq. (2.4) and monitoring.

    Args:
        acts_a: (Na, C) activations where the model writes as persona A.
        acts_b: (Nb, C) activations where it writes as persona B.
        acts_model: (M, C) activations of the model being monitored.
    Returns:
        The mean over the rows of ``acts_model`` of their projection on the unit A - B
        direction, measured from B's mean: 0 means "like B", ||v|| means "like A".
    """
    mean_b = acts_b.mean(axis=0)  # (C,) the rows are examples, the columns features
    v = acts_a.mean(axis=0) - mean_b  # (C,) eq. (2.4)
    unit = v / np.linalg.norm(v)
    return float(((acts_model - mean_b) @ unit).mean())  # (M,) projections, then their mean


def _shift_case(
    rng: np.random.Generator, na: int, nb: int, m: int, c: int, offset: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two persona clouds 4 apart around a centre away from the origin; the model 60 % of the way to A."""
    gap = rng.standard_normal(c)
    gap *= 4.0 / np.linalg.norm(gap)  # (C,) the true A - B difference: ||v|| is far from 1
    centre_b = 2.0 * rng.standard_normal(c)  # (C,) so the raw projection is visibly off
    acts_a = centre_b + gap + rng.standard_normal((na, c))
    acts_b = centre_b + rng.standard_normal((nb, c))
    acts_model = centre_b + 0.6 * gap + rng.standard_normal((m, c))
    return acts_a + offset, acts_b + offset, acts_model + offset


def _shift_cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(202)
    # Na, Nb, M and C all differ, so averaging over the wrong axis cannot go unnoticed
    return [
        _shift_case(rng, na=7, nb=5, m=4, c=6),
        _shift_case(rng, na=12, nb=9, m=3, c=5),
        _shift_case(rng, na=6, nb=10, m=8, c=16),
        _shift_case(rng, na=8, nb=11, m=5, c=9, offset=1e6),  # extreme: a large common offset
    ]


def _unit_projections(mean_b: np.ndarray, v: np.ndarray, acts_model: np.ndarray) -> np.ndarray:
    """(M,) projections of acts_model's rows on v / ||v||, measured from mean_b."""
    return (acts_model - mean_b) @ (v / np.linalg.norm(v))


def _shift_from(mean_b: np.ndarray, v: np.ndarray, acts_model: np.ndarray) -> float:
    return float(_unit_projections(mean_b, v, acts_model).mean())


PERSONA_SHIFT = ShapeHintExercise(
    id="2.2",
    title="persona_shift",
    difficulty=1,
    minutes=10,
    signature='''def persona_shift(acts_a: np.ndarray, acts_b: np.ndarray, acts_model: np.ndarray) -> float:
    """How far a model's activations sit along the A - B persona vector, eq. (2.4).

    acts_a: (Na, C), acts_b: (Nb, C) activations of personas A and B; acts_model: (M, C).
    v = mean of acts_a's rows - mean of acts_b's rows. Returns the mean over the rows h of
    acts_model of (h - mean_b) . v / ||v||. May share a large offset (1e6).
    """''',
    reference=persona_shift,
    cases=_shift_cases,
    shape_hint="average over the rows (axis=0), so that each mean is a (C,) vector: acts_a, acts_b and "
    "acts_model have different numbers of rows but the same width C",
    mistakes=[
        Mistake(
            "sign_flipped",
            "Your shift has the wrong sign: the persona vector points from B to A, v = mean(acts_a) - "
            "mean(acts_b) (eq. 2.4), so a model that moved toward A has a positive projection.",
            lambda a, b, h: _shift_from(b.mean(0), b.mean(0) - a.mean(0), h),
        ),
        Mistake(
            "not_normalised",
            "Project on the *unit* direction v / ||v||: projecting on v itself multiplies the shift by "
            "||v||, the size of the contrast, instead of measuring distance along it.",
            lambda a, b, h: float(((h - b.mean(0)) @ (a.mean(0) - b.mean(0))).mean()),
        ),
        Mistake(
            "raw_activations",
            "Measure the projection from B's mean, (acts_model - mean_b) . v/||v||: projecting the raw "
            "activations adds mean_b . v/||v||, a constant that says nothing about the model (about "
            "1e6 when every activation shares a large offset).",
            lambda a, b, h: _shift_from(np.zeros(h.shape[1]), a.mean(0) - b.mean(0), h),
        ),
        Mistake(
            "per_row_projections",
            "Return one number: the mean over the rows of acts_model of their projections. You returned "
            "the M projections themselves; take their .mean().",
            lambda a, b, h: _unit_projections(b.mean(0), a.mean(0) - b.mean(0), h),
        ),
    ],
)


# ---------------------------------------------------------------------------------------------
# Exercise 2.3: one EM step for the best mixture of personas, eq. (2.2)


def em_step(weights: np.ndarray, pi: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Reference for exercise 2.3. Book: Chapter 2, Lab 2; Chapter 2, eq. (2.2).

    Args:
        weights: (P,) current mixture weights on the simplex.
        pi: (N, K) the policy's probability of each of K replies per context (rows sum to 1).
        q: (N, P, K) each persona's probability of each reply; 0 for a reply it cannot write.
    Returns:
        (P,) the updated weights, the mean over contexts and over replies k ~ pi of the
        responsibilities r[n, p, k] = w_p q[n, p, k] / sum_p' w_p' q[n, p', k].
    """
    joint = weights[None, :, None] * q  # (N, P, K) w_p q_p(k | x_n)
    mix = joint.sum(axis=1)  # (N, K) the mixture's probability of each reply
    resp = joint / np.where(mix > 0, mix, 1.0)[:, None, :]  # (N, P, K); 0/0 -> 0 where no persona can
    return np.einsum("nk,npk->p", pi, resp) / pi.shape[0]


def _em_case(rng: np.random.Generator, n: int, p: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    weights = rng.dirichlet(np.ones(p))  # (P,) far from uniform, so the prior matters
    pi = rng.dirichlet(np.ones(k), size=n)  # (N, K)
    q = rng.dirichlet(np.ones(k), size=(n, p))  # (N, P, K)
    return weights, pi, q


def _em_extreme_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replies some personas cannot write (q = 0), one no persona can write (and pi = 0 there),
    and one every persona finds all but impossible (q ~ 1e-200) that the policy writes often."""
    weights, pi, q = _em_case(rng, n=4, p=3, k=6)
    q[rng.random(q.shape) < 0.25] = 0.0  # persona p cannot write reply k in context n
    q[:, :, 0] = 0.0  # no persona writes reply 0 ...
    pi[:, 0] = 0.0  # ... and neither does the policy: 0/0 there must count as 0
    q[:, :, 1] = 1e-200 * rng.uniform(0.5, 2.0, (4, 3))  # all but impossible, yet
    pi[:, 1] = 0.3  # ... the policy writes it 30 % of the time
    q[0, 2, 3] = 1e-200  # and one persona's tiny probability of an ordinary reply
    pi[q.sum(1) == 0] = 0.0  # the policy writes only replies some persona can write
    return weights, pi / pi.sum(1, keepdims=True), q / q.sum(2, keepdims=True)


def _em_cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(203)
    return [
        _em_case(rng, n=3, p=2, k=4),
        _em_case(rng, n=5, p=3, k=6),
        _em_case(rng, n=4, p=4, k=5),
        _em_extreme_case(rng),  # numerical stability: q = 0 and q ~ 1e-200
    ]


def _resp(w: np.ndarray, q: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """Responsibilities with a plain division (NaN where no persona can write a reply) or + eps."""
    joint = w[None, :, None] * q
    return joint / (joint.sum(1, keepdims=True) + eps)


EM_STEP = Exercise(
    id="2.3",
    title="em_step",
    difficulty=2,
    minutes=20,
    signature='''def em_step(weights: np.ndarray, pi: np.ndarray, q: np.ndarray) -> np.ndarray:
    """One EM update of the mixture of personas that best explains a policy, eq. (2.2).

    weights: (P,) on the simplex; pi: (N, K) the policy's reply probabilities per context;
    q: (N, P, K) each persona's reply probabilities (0 for a reply it cannot write; may be 1e-200).
    r[n, p, k] = w_p q[n, p, k] / sum_p' w_p' q[n, p', k]  (0 where that sum is 0, and pi is 0 there)
    Returns (P,) the new weights: w_p = (1/N) sum_n sum_k pi[n, k] r[n, p, k].
    """''',
    reference=em_step,
    cases=_em_cases,
    mistakes=[
        Mistake(
            "not_weighted_by_pi",
            "Weight each reply by how often the policy writes it: the new w_p is (1/N) sum_n sum_k "
            "pi[n, k] r[n, p, k], not the plain average of the responsibilities over the replies.",
            lambda w, pi, q: _resp(w, q).mean(axis=(0, 2)),
        ),
        Mistake(
            "responsibilities_not_normalised",
            "Did you forget to normalise the responsibilities? Divide w_p q[n, p, k] by the mixture's "
            "probability of the reply, sum_p' w_p' q[n, p', k], so each reply's responsibilities sum to 1.",
            lambda w, pi, q: np.einsum("nk,p,npk->p", pi, w, q) / pi.shape[0],
        ),
        Mistake(
            "forgot_prior_weights",
            "Your responsibilities ignore the current weights: Bayes' rule multiplies each persona's "
            "likelihood q[n, p, k] by its prior w_p before normalising, r = w_p q / sum_p' w_p' q.",
            lambda w, pi, q: np.einsum("nk,npk->p", pi, q / q.sum(1, keepdims=True)) / pi.shape[0],
        ),
        Mistake(
            "not_divided_by_n",
            "Your weights sum to N, not 1: average over the N contexts -- divide the sum over n and k "
            "by N = pi.shape[0].",
            lambda w, pi, q: np.einsum("nk,npk->p", pi, _resp(w, q)),
        ),
        Mistake(
            "epsilon_in_denominator",
            "Adding a small epsilon to the denominator changes the answer for replies that every persona "
            "finds very unlikely (q ~ 1e-200 in the extreme case): their responsibilities must still sum "
            "to 1. Divide by the exact sum and set r = 0 only where it is exactly 0 (np.where(mix > 0, ...)).",
            lambda w, pi, q: np.einsum("nk,npk->p", pi, _resp(w, q, eps=1e-12)) / pi.shape[0],
        ),
        Mistake(
            "nan_from_zero_over_zero",
            "Your weights are not finite on the numerical-stability case: no persona can write some "
            "replies, so sum_p w_p q = 0 there and 0/0 = NaN poisons the sum, although pi = 0 there. "
            "Treat 0/0 as 0: divide by np.where(mix > 0, mix, 1.0).",
            lambda w, pi, q: np.einsum("nk,npk->p", pi, _resp(w, q)) / pi.shape[0],
        ),
    ],
)


EXERCISES: dict[str, Exercise] = {ex.id: ex for ex in (SFT_LOSS, PERSONA_SHIFT, EM_STEP)}

check_sft_loss = exercise_checker(SFT_LOSS)
check_persona_shift = exercise_checker(PERSONA_SHIFT)
check_em_step = exercise_checker(EM_STEP)

CHECKERS = {"2.1": check_sft_loss, "2.2": check_persona_shift, "2.3": check_em_step}
