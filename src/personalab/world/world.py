"""PersonaWorld: sample documents and compute everything about them exactly.

Book: Chapter 1 (section *PersonaWorld*) and Appendix A.

Typical use::

    world = PersonaWorld.default()
    corpus = world.sample(3, seed=0)
    scores = world.score(corpus)   # exact posteriors and Bayes log-probs
    scores.bayes_loss              # nats/token: no model can do better on average
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OffWorldError, UnknownNameError, UsageError
from .config import WorldConfig, default_config, world_hash
from .grammar import DialogueState, Grammar, Turn, document
from .inference import Trace, as_token_ids, bayes_logprob, blind_logprob, log_posterior, trace


@dataclass
class Corpus:
    """Sampled documents, padded to a common length.

    Attributes:
        tokens: (N, T) int64 token ids, padded with ``<pad>``.
        lengths: (N,) number of real tokens of each document.
        latents: (N, L) the persona index behind each latent variable (L = 1 in the
            persona-coupled world: ``latents[:, 0]`` is the writing persona).
    """

    world: PersonaWorld
    tokens: np.ndarray
    lengths: np.ndarray
    latents: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def personas(self) -> np.ndarray:
        """(N,) the writing persona's index (persona-coupled world only)."""
        if self.latents.shape[1] != 1:
            raise UsageError("in the shuffled world each trait has its own persona; use .latents")
        return self.latents[:, 0]

    def doc(self, i: int) -> np.ndarray:
        return self.tokens[i, : self.lengths[i]]

    def text(self, i: int) -> str:
        return self.world.vocab.decode(self.doc(i))

    def docs(self) -> list[np.ndarray]:
        return [self.doc(i) for i in range(len(self))]

    def __getitem__(self, idx: slice | np.ndarray) -> Corpus:
        return Corpus(self.world, self.tokens[idx], self.lengths[idx], self.latents[idx])


@dataclass
class Scores:
    """Exact inference for a batch of documents (equations 1.1-1.3 of Chapter 1).

    Position t always means "predicting token t from tokens < t"; ``mask`` marks the
    predicted (target) positions: every real token after ``<bos>``.
    """

    tokens: np.ndarray  # (N, T)
    mask: np.ndarray  # (N, T) bool
    logp: np.ndarray  # (N, T, P): log P(x_t | x_<t, p)
    latent: np.ndarray  # (N, T): latent governing x_t, -1 shared or padding
    log_posterior: np.ndarray  # (N, T+1, L, P): posterior before token t
    bayes_logprob: np.ndarray  # (N, T): log P*(x_t | x_<t), eq. (1.3)
    blind_logprob: np.ndarray  # (N, T): persona-blind predictor
    lengths: np.ndarray  # (N,)

    @property
    def posterior(self) -> np.ndarray:
        """(N, T+1, L, P) posterior probabilities."""
        return np.exp(self.log_posterior)

    def final_posterior(self) -> np.ndarray:
        """(N, L, P): posterior after each whole document."""
        idx = self.lengths[:, None, None, None]
        return np.exp(
            np.take_along_axis(
                self.log_posterior, np.broadcast_to(idx, (len(idx), 1, *self.log_posterior.shape[2:])), axis=1
            )[:, 0]
        )

    @property
    def n_tokens(self) -> int:
        return int(self.mask.sum())

    @property
    def bayes_loss(self) -> float:
        """The Bayes loss (nats/token), the mean of -log P*(x_t | x_<t) over target tokens."""
        return float(-(self.bayes_logprob * self.mask).sum() / self.mask.sum())

    @property
    def blind_loss(self) -> float:
        """Loss of the persona-blind predictor in nats/token."""
        return float(-(self.blind_logprob * self.mask).sum() / self.mask.sum())

    def bayes_loss_stderr(self) -> float:
        """Standard error of :attr:`bayes_loss` across documents (ratio estimator)."""
        per_doc = -(self.bayes_logprob * self.mask).sum(1)
        n = self.mask.sum(1)
        r = per_doc.sum() / n.sum()
        resid = per_doc - r * n
        return float(np.sqrt((resid**2).sum() / (len(n) * (len(n) - 1))) / n.mean()) if len(n) > 1 else float("nan")


class PersonaWorld:
    """A compiled, validated PersonaWorld. Build with :meth:`default`, :meth:`from_yaml`
    or from a :class:`~personalab.world.config.WorldConfig`."""

    def __init__(self, config: WorldConfig):
        # Re-validated here, so that a config built by hand is checked and exactly normalised
        # too (a validated config comes back unchanged).
        self.config = WorldConfig.from_dict(config.to_dict())
        self.grammar = Grammar(self.config)

    # ------------------------------------------------------------------ construction
    @classmethod
    def default(cls) -> PersonaWorld:
        """The default world shipped with the package."""
        return cls(default_config())

    @classmethod
    def from_yaml(cls, path: str | Path) -> PersonaWorld:
        """A world from a YAML configuration file (validated)."""
        return cls(WorldConfig.from_yaml(path))

    def variant(self, **changes: Any) -> PersonaWorld:
        """A world with some config fields replaced, e.g. ``coupling="shuffled"`` or
        ``kinds={...}``. Keep the same kinds (weights may be 0) to keep the vocabulary."""
        return PersonaWorld(self.config.replace(**changes))

    def shuffled(self) -> PersonaWorld:
        """The control world: same traits and priors, but each trait's source persona drawn
        independently per document (no persona structure)."""
        return self.variant(coupling="shuffled", name=f"{self.config.name}-shuffled")

    # ------------------------------------------------------------------ basic facts
    @property
    def vocab(self):
        return self.grammar.vocab

    @property
    def personas(self) -> tuple[str, ...]:
        return self.grammar.personas

    @property
    def prior(self) -> np.ndarray:
        return self.grammar.prior.copy()

    @property
    def max_len(self) -> int:
        """The longest possible document, in tokens (including <bos> and <eos>)."""
        return self.grammar.max_len

    @property
    def latent_names(self) -> tuple[str, ...]:
        return self.grammar.latent_names

    @cached_property
    def hash(self) -> str:
        return world_hash(self.config)

    def persona_index(self, name: str) -> int:
        """Index of a persona by name, with a clear error listing the personas."""
        try:
            return self.personas.index(name)
        except ValueError:
            raise UnknownNameError(f"unknown persona {name!r}; this world has {list(self.personas)}") from None

    def trait_table(self, trait: str) -> dict[str, dict[str, float]]:
        """{persona: {outcome: probability}} for one trait."""
        if trait not in self.grammar.traits:
            raise UnknownNameError(f"unknown trait {trait!r}; this world has {list(self.grammar.traits)}")
        t = self.grammar.traits[trait]
        table = self.grammar.trait_tables[trait]
        return {p: dict(zip(t.outcomes, map(float, table[i]))) for i, p in enumerate(self.personas)}

    def __repr__(self) -> str:
        return (
            f"PersonaWorld({self.config.name!r}, personas={list(self.personas)}, "
            f"coupling={self.config.coupling!r}, vocab={len(self.vocab)}, hash={self.hash})"
        )

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, seed: int = 0, persona: str | None = None) -> Corpus:
        """Sample ``n`` documents. ``persona`` fixes the writer (every latent) instead of
        drawing it from the prior. Deterministic given ``seed``."""
        if n < 0:
            raise UsageError(f"n must be >= 0, got {n}")
        rng = np.random.default_rng(seed)
        g = self.grammar
        L = len(g.latent_names)
        if persona is None:
            latents = rng.choice(g.P, size=(n, L), p=g.prior)
        else:
            latents = np.full((n, L), self.persona_index(persona), dtype=np.int64)
        tokens = np.full((n, g.max_len), self.vocab.pad_id, dtype=np.int64)
        lengths = np.zeros(n, dtype=np.int64)
        for i in range(n):
            u = rng.random(g.max_len)
            doc = self._sample_one(latents[i], u)
            tokens[i, : len(doc)] = doc
            lengths[i] = len(doc)
        return Corpus(self, tokens, lengths, latents.astype(np.int64))

    def _sample_one(self, latents: np.ndarray, u: np.ndarray) -> list[int]:
        state = DialogueState()
        gen = document(self.grammar, state)
        dist = next(gen)
        out: list[int] = []
        while True:
            persona = int(latents[dist.latent]) if dist.latent >= 0 else 0
            tok = dist.sample(persona, u[len(out)])
            out.append(tok)
            state.n = len(out)
            try:
                dist = gen.send(tok)
            except StopIteration:
                return out

    # ------------------------------------------------------------------ exact inference
    def encode(self, text: str) -> np.ndarray:
        """Encode a document or prefix; ``<bos>`` is prepended if missing. The result is
        checked against the grammar (an impossible text raises
        :class:`~personalab.world.inference.OffWorldError`)."""
        ids = self.vocab.encode(text)
        if len(ids) == 0 or ids[0] != self.vocab.bos_id:
            ids = np.concatenate([[self.vocab.bos_id], ids])
        trace(self.grammar, ids)
        return ids

    def trace(self, tokens: Sequence[int] | np.ndarray | str) -> Trace:
        """Run the grammar over one document or prefix (see :func:`~personalab.world.inference.trace`)."""
        if isinstance(tokens, str):
            tokens = self.encode(tokens)
        return trace(self.grammar, np.asarray(tokens))

    def turns(self, tokens: Sequence[int] | np.ndarray | str) -> list[Turn]:
        """The turns of a document: kind, situation, positions and outcome of each reply."""
        return self.trace(tokens).state.turns

    def score(self, docs: Corpus | Sequence[np.ndarray] | np.ndarray) -> Scores:
        """Exact inference for a batch of documents or prefixes (equations 1.1-1.3)."""
        seqs = _as_sequences(docs, self.vocab.pad_id)
        N = len(seqs)
        T = max((len(s) for s in seqs), default=1)
        g = self.grammar
        logp = np.zeros((N, T, g.P))
        latent = np.full((N, T), -1, dtype=np.int64)
        tokens = np.full((N, T), self.vocab.pad_id, dtype=np.int64)
        lengths = np.zeros(N, dtype=np.int64)
        for i, s in enumerate(seqs):
            tr = trace(g, s)
            n = len(s)
            logp[i, :n], latent[i, :n], tokens[i, :n], lengths[i] = tr.logp, tr.latent, s, n
        mask = np.arange(T)[None, :] < lengths[:, None]
        mask[:, 0] = False
        latent[:, 0] = -1
        lpost = log_posterior(g.prior, logp, latent, len(g.latent_names))
        bayes = bayes_logprob(logp, latent, lpost)
        bad = mask & (bayes < -1e200)
        if bad.any():
            i, t = map(int, np.argwhere(bad)[0])
            raise OffWorldError(f"document {i} has probability zero under this world (token {t})")
        blind = blind_logprob(g.prior, logp, latent)
        return Scores(
            tokens, mask, logp, latent, lpost, np.where(mask, bayes, 0.0), np.where(mask, blind, 0.0), lengths
        )

    def posterior(self, tokens: Sequence[int] | np.ndarray | str) -> np.ndarray:
        """Posterior over personas after every prefix of one document: (T+1, P), row t being
        the posterior given tokens < t (persona-coupled world; see :meth:`score` otherwise)."""
        if self.config.coupling != "persona":
            raise UsageError("the shuffled world has one posterior per trait: use world.score(...).posterior")
        if isinstance(tokens, str):
            tokens = self.encode(tokens)
        return self.score([as_token_ids(tokens)]).posterior[0, :, 0, :]

    def predict(self, prefix: Sequence[int] | np.ndarray | str) -> np.ndarray:
        """The Bayes-optimal distribution (V,) of the token after ``prefix`` (eq. 1.3)."""
        if isinstance(prefix, str):
            prefix = self.encode(prefix)
        prefix = as_token_ids(prefix)
        tr = trace(self.grammar, prefix)
        if tr.next_dist is None:
            raise UsageError("the prefix is a complete document: nothing follows <eos>")
        d = tr.next_dist
        if d.latent < 0:
            return d.probs.copy()
        post = self.score([prefix]).posterior[0, len(prefix), d.latent]
        return d.mixture(post)

    def bayes_predictive(self, doc: Sequence[int] | np.ndarray) -> np.ndarray:
        """(T, V): the Bayes-optimal next-token distribution at every position of a document
        (row t predicts token t; row 0 is zero since <bos> is given)."""
        doc = as_token_ids(doc)
        tr = trace(self.grammar, doc)
        post = self.score([doc]).posterior[0]
        out = np.zeros((len(doc), len(self.vocab)))
        for t in range(1, len(doc)):
            d = tr.dists[t]
            out[t] = d.probs if d.latent < 0 else d.mixture(post[t, d.latent])
        return out


def _as_sequences(docs, pad_id: int) -> list[np.ndarray]:
    """Documents as int64 id arrays. Rows of a 2-D array may end with ``<pad>`` (removed);
    a ``<pad>`` followed by real tokens is an error, not silently dropped (the row would
    then be scored as another document)."""
    if isinstance(docs, Corpus):
        return docs.docs()
    if isinstance(docs, np.ndarray) and docs.ndim == 2:
        out = []
        for i, row in enumerate(docs):
            row = as_token_ids(row)
            real = np.flatnonzero(row != pad_id)
            n = int(real[-1]) + 1 if len(real) else 0
            inner = np.flatnonzero(row[:n] == pad_id)
            if len(inner):
                raise OffWorldError(
                    f"row {i} has <pad> at position {int(inner[0])} before real tokens; padding may only "
                    "follow a document (pass a list of unpadded documents for anything else)"
                )
            out.append(row[:n])
        return out
    if isinstance(docs, np.ndarray) and docs.ndim == 1:
        return [as_token_ids(docs)]
    return [as_token_ids(d) for d in docs]
