"""Exact inference in PersonaWorld: likelihoods, persona posteriors, the Bayes-optimal predictor.

Book: Chapter 1, equations (1.1)-(1.3); Appendix A, section *Exact inference*. Xie et al.
(2021) describe in-context learning as exactly this kind of implicit Bayesian inference.

For a document x = (x_0 = <bos>, x_1, ..., x_T) and a persona p,

    log P(x | p) = sum_t log P(x_t | x_<t, p)                                   (1.1)

    P(p | x_<t) ∝ P(p) · prod_{s<t} P(x_s | x_<s, p)                             (1.2)

    P*(x_t | x_<t) = sum_p P(p | x_<t) · P(x_t | x_<t, p)                         (1.3)

(1.3) is the Bayes-optimal next-token predictor; its average log-loss on the data is the
**Bayes loss**, the lower bound on the expected cross-entropy of *any* model of this world.
In the shuffled world each trait has its own source persona; (1.2) then holds per trait,
using only the tokens that trait governs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import OffWorldError
from ..numerics import logsumexp
from .dist import Dist
from .grammar import DialogueState, Grammar, document


@dataclass
class Trace:
    """The grammar run over one token sequence (a whole document or a prefix)."""

    tokens: np.ndarray  # (T,)
    logp: np.ndarray  # (T, P): log P(x_t | x_<t, persona p); row 0 (<bos>) is 0
    latent: np.ndarray  # (T,): latent variable governing x_t, -1 if persona-independent
    dists: list[Dist]  # the distribution each token was drawn from
    phases: list[str]  # grammar phase of each token: start, user, style, content, tail, between
    state: DialogueState  # turns, and where the grammar stopped
    next_dist: Dist | None  # distribution of the token after the last one (None after <eos>)


def as_token_ids(tokens) -> np.ndarray:
    """``tokens`` as a flat int64 array. Floats are accepted only if they are whole numbers
    (``3.7`` is not a token id: casting would silently read token 3)."""
    arr = np.asarray(tokens)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        if arr.size:
            raise OffWorldError(f"token ids must be integers, got an array of {arr.dtype}")
        arr = arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad.reshape(-1))[0])
            raise OffWorldError(
                f"token ids must be whole numbers; position {i} holds {float(arr.reshape(-1)[i])!r}. "
                "Fix: pass integer ids (e.g. world.encode(text) or tensor.long())."
            )
    return arr.astype(np.int64).reshape(-1)


def trace(g: Grammar, tokens: np.ndarray) -> Trace:
    """Run the grammar over ``tokens`` and record every per-persona log-likelihood.

    Raises :class:`OffWorldError` (naming the position, the token and what the world allows
    there) if the sequence is impossible in this world.
    """
    tokens = as_token_ids(tokens)
    T = len(tokens)
    if T == 0:
        raise OffWorldError("empty token sequence: a document starts with <bos>")
    state = DialogueState()
    gen = document(g, state)
    dist = next(gen)
    logp = np.zeros((T, g.P))
    latent = np.full(T, -1, dtype=np.int64)
    dists: list[Dist] = []
    phases: list[str] = []
    next_dist: Dist | None = None
    for t in range(T):
        tok = int(tokens[t])
        if not dist.possible(tok):
            allowed = np.flatnonzero(dist.probs.reshape(-1, dist.probs.shape[-1]).max(axis=0) > 0)
            shown = " ".join(g.vocab.words[i] for i in allowed[:12]) + (" ..." if len(allowed) > 12 else "")
            got = g.vocab.words[tok] if 0 <= tok < len(g.vocab) else f"id {tok}"
            so_far = g.vocab.decode(tokens[max(0, t - 8) : t])
            raise OffWorldError(
                f"token {t} ({got!r}) is impossible in this world after '... {so_far}'; allowed here: {shown}"
            )
        if t > 0:  # <bos> is given, not predicted
            logp[t] = dist.token_logp(tok)
        latent[t] = dist.latent
        dists.append(dist)
        phases.append(state.phase)
        state.n = t + 1
        try:
            dist = gen.send(tok)
        except StopIteration:
            if t != T - 1:
                raise OffWorldError(f"tokens continue after <eos> at position {t}") from None
            dist = None
            break
    next_dist = dist
    return Trace(tokens, logp, latent, dists, phases, state, next_dist)


def log_posterior(prior: np.ndarray, logp: np.ndarray, latent: np.ndarray, n_latents: int) -> np.ndarray:
    """Equation (1.2) for a batch: log P(latent l = p | x_<t) for every t.

    Args:
        prior: (P,) prior over personas.
        logp: (N, T, P) per-persona token log-likelihoods (0 where not a target).
        latent: (N, T) latent index of each token, -1 for persona-independent tokens or padding.
    Returns:
        The log-posterior, shape (N, T + 1, L, P); index t is the posterior *before* token t,
        index T the posterior after the last token.
    """
    N, T, P = logp.shape
    onehot = latent[..., None] == np.arange(n_latents)  # (N, T, L)
    safe = np.where(np.isfinite(logp), logp, -1e300)  # -inf * 0 would be nan
    contrib = onehot[..., None] * safe[:, :, None, :]  # (N, T, L, P)
    cum = np.zeros((N, T + 1, n_latents, P))
    np.cumsum(contrib, axis=1, out=cum[:, 1:])
    with np.errstate(divide="ignore"):
        logits = np.log(prior) + cum
    logits = np.maximum(logits, -1e300)
    return logits - logsumexp(logits)[..., None]


def bayes_logprob(logp: np.ndarray, latent: np.ndarray, logpost: np.ndarray) -> np.ndarray:
    """Equation (1.3) evaluated at the actual tokens: log P*(x_t | x_<t), shape (N, T)."""
    N, T, P = logp.shape
    lat = np.clip(latent, 0, None)
    post_t = np.take_along_axis(logpost[:, :T], lat[:, :, None, None], axis=2)[:, :, 0, :]  # (N, T, P)
    mixed = logsumexp(post_t + logp)
    return np.where(latent >= 0, mixed, logp[..., 0])


def blind_logprob(prior: np.ndarray, logp: np.ndarray, latent: np.ndarray) -> np.ndarray:
    """The persona-blind predictor: each token predicted with the *prior* mixture,
    never updating on context: log sum_p P(p) P(x_t | x_<t, p). A model that ignores
    persona structure cannot beat it; the gap to the Bayes loss is what in-context persona
    inference is worth."""
    with np.errstate(divide="ignore"):
        a = np.log(prior) + logp
    mixed = logsumexp(a)
    return np.where(latent >= 0, mixed, logp[..., 0])
