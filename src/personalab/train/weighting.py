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
"""

from __future__ import annotations

import numpy as np

from ..world import Corpus


def governed_tokens(corpus: Corpus, chunk: int = 5000) -> np.ndarray:
    """(N, T) bool, aligned with ``corpus.tokens``: token t is governed by a persona trait
    (its exact distribution depends on the writer). Computed from the world's exact
    inference in chunks (the full scores of 60,000 documents would need about 0.5 GB)."""
    N, T = corpus.tokens.shape
    out = np.zeros((N, T), dtype=bool)
    for i in range(0, N, chunk):
        part = corpus[i : i + chunk]
        scores = corpus.world.score(part)
        gov = (scores.latent >= 0) & scores.mask
        out[i : i + chunk, : gov.shape[1]] = gov
    return out


def persona_token_weights(corpus: Corpus, persona_token_weight: float) -> np.ndarray:
    """(N, T) float32 loss weights: ``1 + persona_token_weight`` on governed tokens, 1 elsewhere."""
    if persona_token_weight < 0:
        raise ValueError(f"persona_token_weight must be >= 0, got {persona_token_weight}")
    return (1.0 + persona_token_weight * governed_tokens(corpus)).astype(np.float32)
