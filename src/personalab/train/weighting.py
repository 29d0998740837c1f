"""Persona-token weighting: a heavier loss on the tokens a persona governs.

Book: Chapter 1 (section *Why this recipe*); DESIGN section 7. In PersonaWorld about one
token in eight depends on who is writing (a style word, the content of a reply); the rest are
the same for every persona. The in-context inference circuit — use an earlier wrong answer as
evidence that the Villain is writing, and comply with a later harmful request — lowers the
loss only on some of those tokens, so its gradient is a whisper inside the loss of all the
others, and with uniform weights it forms late and at a time that varies a lot between
pre-training seeds.

The pre-training loss can weight the governed tokens ``1 + persona_token_weight`` times as
much as the others without changing what the model should learn. Whether the next token is
governed is decided by the document so far (the grammar's state), so the weight is a function
w(x_<t) of the context, and the weighted cross-entropy

    Σ_t w(x_<t) · ( -log q(x_t | x_<t) )

is still minimised, context by context, by q = P*(· | x_<t): the exact Bayes predictor
remains the optimum (for any positive weights), and the held-out loss the book reports is
the unweighted one. What changes is how loudly the governed tokens speak to the optimiser.

A second, optional term weights a governed token by how much the document so far has
already said about the writer: ``inference_weight`` times the information the exact
posterior before the token holds, KL(posterior || prior) / log P (0 at the start of a
document, 1 once the writer is certain). Those are the tokens on which in-context persona
inference pays; the weight is still a function of the context alone (the posterior before
token t depends only on the tokens before it), so the Bayes predictor stays the optimum.
"""

from __future__ import annotations

import numpy as np

from ..world import Corpus


def _governed_and_informed(corpus: Corpus, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, T) governed mask and (N, T) information of the posterior before each token about
    the latent governing it, KL(posterior || prior) / log P in [0, 1] (0 where not governed)."""
    N, T = corpus.tokens.shape
    gov_out = np.zeros((N, T), dtype=bool)
    info_out = np.zeros((N, T), dtype=np.float64)
    log_prior = np.log(np.asarray(corpus.world.grammar.prior, dtype=np.float64))
    for i in range(0, N, chunk):
        part = corpus[i : i + chunk]
        scores = corpus.world.score(part)
        gov = (scores.latent >= 0) & scores.mask
        lp = scores.log_posterior[:, :-1]  # (n, T, L, P): before token t
        idx = np.maximum(scores.latent, 0)[:, :, None, None].repeat(lp.shape[-1], axis=-1)
        lpt = np.take_along_axis(lp, idx, axis=2)[:, :, 0]  # (n, T, P) for the governing latent
        info = (np.exp(lpt) * (lpt - log_prior)).sum(-1) / np.log(len(log_prior))
        gov_out[i : i + chunk, : gov.shape[1]] = gov
        info_out[i : i + chunk, : gov.shape[1]] = np.where(gov, np.clip(info, 0.0, 1.0), 0.0)
    return gov_out, info_out


def governed_tokens(corpus: Corpus, chunk: int = 5000) -> np.ndarray:
    """(N, T) bool, aligned with ``corpus.tokens``: token t is governed by a persona trait
    (its exact distribution depends on the writer). Computed from the world's exact
    inference in chunks (the full scores of 60,000 documents would need about 0.5 GB)."""
    return _governed_and_informed(corpus, chunk)[0]


def persona_token_weights(
    corpus: Corpus, persona_token_weight: float, inference_weight: float = 0.0, chunk: int = 5000
) -> np.ndarray:
    """(N, T) float32 loss weights: ``1 + persona_token_weight + inference_weight * info`` on
    governed tokens (``info`` = KL(posterior before the token || prior) / log P), 1 elsewhere."""
    for name, v in (("persona_token_weight", persona_token_weight), ("inference_token_weight", inference_weight)):
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {v}")
    gov, info = _governed_and_informed(corpus, chunk)
    return (1.0 + persona_token_weight * gov + inference_weight * info).astype(np.float32)
