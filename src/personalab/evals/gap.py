"""The gap to the Bayes limit: how far a model's loss is from the best any model can do.

Book: Chapter 1 (sections *Pre-training* and *The limit of pre-training*), eq. (1.3);
Appendix A. On held-out documents the model's mean token loss is compared with the exact
Bayes loss (the mixture predictor of eq. 1.3 with the exact persona posterior) and with the
persona-blind loss (the prior mixture, never updated). On the tokens a trait governs, the
share of the blind-to-Bayes gap the model closes is how much of in-context persona inference
it has learnt.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import GPT
from ..train.loop import token_nll
from ..world import Corpus


@dataclass
class GapReport:
    """How far a model is from the exact limit on held-out documents (nats/token)."""

    model_loss: float
    bayes_loss: float
    blind_loss: float
    bayes_loss_stderr: float
    persona_model_loss: float  # on the tokens a trait governs (style and content of replies)
    persona_bayes_loss: float
    persona_blind_loss: float
    n_docs: int
    n_tokens: int

    @property
    def gap(self) -> float:
        return self.model_loss - self.bayes_loss

    @property
    def inference_captured(self) -> float:
        """Fraction of the value of in-context persona inference the model captures on the
        persona-governed tokens: (blind - model) / (blind - Bayes); 1 is Bayes-optimal."""
        return (self.persona_blind_loss - self.persona_model_loss) / (self.persona_blind_loss - self.persona_bayes_loss)

    def to_dict(self) -> dict[str, float]:
        d = dict(self.__dict__)
        d["gap"] = self.gap
        d["inference_captured"] = self.inference_captured
        return d


def gap_report(model: GPT, corpus: Corpus) -> GapReport:
    """Compare ``model`` with the exact Bayes-optimal and persona-blind predictors on ``corpus``."""
    scores = corpus.world.score(corpus)
    mask = scores.mask
    nll = token_nll(model, corpus)[:, : mask.shape[1]]  # the corpus may be padded wider than its longest doc
    gov = mask & (scores.latent >= 0)
    return GapReport(
        model_loss=float(nll[mask].mean()),
        bayes_loss=scores.bayes_loss,
        blind_loss=scores.blind_loss,
        bayes_loss_stderr=scores.bayes_loss_stderr(),
        persona_model_loss=float(nll[gov].mean()),
        persona_bayes_loss=float(-scores.bayes_logprob[gov].mean()),
        persona_blind_loss=float(-scores.blind_logprob[gov].mean()),
        n_docs=len(corpus),
        n_tokens=int(mask.sum()),
    )
