"""The exercise checkers of Chapter 2, Lab 2 (book: Chapter 2, eqs. (2.1), (2.2) and (2.4)).

Each checker must fail on the stub, name the intended mistake for each known-wrong variant,
fail with the generic message on any other wrong function, and pass on a correct solution.
The wrong variants and the correct solutions below are written independently, as a learner
would write them: they are *not* the ``Mistake.impl`` or reference objects of the checkers, so
a checker that compared a function with itself would fail these tests. The references are
also held to the library functions they mirror, so the exercises and ``src/`` cannot drift.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_contract import checker_contract, stub

from personalab.evals import psm
from personalab.exercises import check
from personalab.exercises.ch02 import (
    CHECKERS,
    EM_STEP,
    EXERCISES,
    PAD,
    PERSONA_SHIFT,
    SFT_LOSS,
    check_em_step,
    check_persona_shift,
    check_sft_loss,
    em_step,
    persona_shift,
    sft_loss,
)
from personalab.exercises.core import NOT_IMPLEMENTED
from personalab.interp.persona_vectors import difference_of_means
from personalab.model import GPT, GPTConfig
from personalab.train.loop import lm_loss

# ---------------------------------------------------------------------------------------------
# Learner code, written independently of personalab.exercises.ch02


# -- 2.1 sft_loss -----------------------------------------------------------------------------


def sft_loss_solution(logits, tokens, reply_mask):
    V = logits.shape[-1]
    nll = F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1), reduction="none")
    return nll[reply_mask[:, 1:].reshape(-1)].mean()


def sft_loss_with_ignore_index(logits, tokens, reply_mask):
    # also correct: cross_entropy averages over the targets it does not ignore
    targets = tokens[:, 1:].masked_fill(~reply_mask[:, 1:], -100)
    return F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100)


def sft_loss_by_hand(logits, tokens, reply_mask):
    # also correct, and numerically careful: log-softmax as x - logsumexp(x)
    logp = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    target_logp = torch.gather(logp, 2, tokens[:, 1:].unsqueeze(2)).squeeze(2)
    weights = reply_mask[:, 1:].double()
    return -(target_logp * weights).sum() / weights.sum()


def sft_loss_unmasked(logits, tokens, reply_mask):
    return F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:])


def sft_loss_unmasked_and_naive(logits, tokens, reply_mask):
    # two mistakes at once: the checker names the first, the mask
    logp = torch.log(torch.softmax(logits, dim=-1))
    return -logp.gather(-1, tokens[:, 1:, None]).mean()


def sft_loss_mask_of_the_inputs(logits, tokens, reply_mask):
    nll = F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="none")
    return nll[reply_mask[:, :-1]].mean()


def sft_loss_dividing_by_all_targets(logits, tokens, reply_mask):
    nll = F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="none")
    return (nll * reply_mask[:, 1:]).sum() / nll.numel()


def sft_loss_mean_of_row_means(logits, tokens, reply_mask):
    rows = []
    for b in range(tokens.shape[0]):
        nll = F.cross_entropy(logits[b], tokens[b, 1:], reduction="none")
        rows.append(nll[reply_mask[b, 1:]].mean())
    return torch.stack(rows).mean()


def sft_loss_log_of_softmax(logits, tokens, reply_mask):
    probs = F.softmax(logits, dim=-1)
    target_probs = probs.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
    return -torch.log(target_probs)[reply_mask[:, 1:]].mean()


def sft_loss_summed(logits, tokens, reply_mask):
    nll = F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="none")
    return nll[reply_mask[:, 1:]].sum()


# -- 2.2 persona_shift ------------------------------------------------------------------------


def persona_shift_solution(acts_a, acts_b, acts_model):
    mu_a, mu_b = acts_a.mean(axis=0), acts_b.mean(axis=0)
    direction = (mu_a - mu_b) / np.linalg.norm(mu_a - mu_b)
    return float(np.mean((acts_model - mu_b) @ direction))


def persona_shift_centred_first(acts_a, acts_b, acts_model):
    # also correct, and numerically careful: move the origin to B's mean before anything else
    origin = acts_b.mean(axis=0)
    v = (acts_a - origin).mean(axis=0)
    return float(((acts_model - origin).mean(axis=0) @ v) / np.sqrt(v @ v))


def persona_shift_in_torch(acts_a, acts_b, acts_model):
    a, b, h = (torch.from_numpy(x) for x in (acts_a, acts_b, acts_model))
    unit = F.normalize(a.mean(0) - b.mean(0), dim=0)
    return ((h - b.mean(0)) @ unit).mean().item()


def persona_shift_b_minus_a(acts_a, acts_b, acts_model):
    v = acts_b.mean(axis=0) - acts_a.mean(axis=0)
    return float(np.mean((acts_model - acts_b.mean(axis=0)) @ (v / np.linalg.norm(v))))


def persona_shift_on_v_itself(acts_a, acts_b, acts_model):
    v = acts_a.mean(axis=0) - acts_b.mean(axis=0)
    return float(np.mean((acts_model - acts_b.mean(axis=0)) @ v))


def persona_shift_raw(acts_a, acts_b, acts_model):
    v = acts_a.mean(axis=0) - acts_b.mean(axis=0)
    return float(np.mean(acts_model @ v) / np.linalg.norm(v))


def persona_shift_per_row(acts_a, acts_b, acts_model):
    v = acts_a.mean(axis=0) - acts_b.mean(axis=0)
    return (acts_model - acts_b.mean(axis=0)) @ v / np.linalg.norm(v)


def persona_shift_over_features(acts_a, acts_b, acts_model):
    v = acts_a.mean(axis=1) - acts_b.mean(axis=1)  # (Na,) - (Nb,): a shape error
    return float(np.mean((acts_model - acts_b.mean(axis=1)) @ (v / np.linalg.norm(v))))


def persona_shift_from_a(acts_a, acts_b, acts_model):
    v = acts_a.mean(axis=0) - acts_b.mean(axis=0)
    return float(np.mean((acts_model - acts_a.mean(axis=0)) @ (v / np.linalg.norm(v))))


# -- 2.3 em_step ------------------------------------------------------------------------------


def em_step_solution(weights, pi, q):
    joint = weights[:, None] * q  # (N, P, K)
    mix = joint.sum(axis=1, keepdims=True)
    resp = np.divide(joint, mix, out=np.zeros_like(joint), where=mix > 0)
    return (pi[:, None, :] * resp).sum(axis=(0, 2)) / len(pi)


def em_step_with_loops(weights, pi, q):
    # also correct, and careful: skip the replies no persona can write instead of dividing by 0
    N, P, K = q.shape
    new = np.zeros(P)
    for n in range(N):
        for k in range(K):
            total = sum(weights[p] * q[n, p, k] for p in range(P))
            if total == 0.0:
                continue
            for p in range(P):
                new[p] += pi[n, k] * weights[p] * q[n, p, k] / total
    return new / N


def em_step_nan_to_num(weights, pi, q):
    # also correct: the NaNs of 0/0 sit where pi = 0, so zeroing them changes nothing else
    resp = weights[:, None] * q / np.einsum("p,npk->nk", weights, q)[:, None, :]
    return np.einsum("nk,npk->p", pi, np.nan_to_num(resp)) / pi.shape[0]


def em_step_unweighted(weights, pi, q):
    joint = weights[:, None] * q
    mix = joint.sum(axis=1, keepdims=True)
    resp = np.divide(joint, mix, out=np.zeros_like(joint), where=mix > 0)
    return resp.sum(axis=(0, 2)) / (q.shape[0] * q.shape[2])


def em_step_unweighted_and_naive(weights, pi, q):
    # two mistakes at once: the checker names the first, the missing pi
    resp = weights[:, None] * q / (weights[:, None] * q).sum(axis=1, keepdims=True)
    return np.mean(resp, axis=(0, 2))


def em_step_unnormalised(weights, pi, q):
    return (pi[:, None, :] * weights[:, None] * q).sum(axis=(0, 2)) / len(pi)


def em_step_without_prior(weights, pi, q):
    total = q.sum(axis=1, keepdims=True)
    resp = np.divide(q, total, out=np.zeros_like(q), where=total > 0)
    return (pi[:, None, :] * resp).sum(axis=(0, 2)) / len(pi)


def em_step_summed_over_contexts(weights, pi, q):
    joint = weights[:, None] * q
    mix = joint.sum(axis=1, keepdims=True)
    resp = np.divide(joint, mix, out=np.zeros_like(joint), where=mix > 0)
    return (pi[:, None, :] * resp).sum(axis=(0, 2))


def em_step_with_epsilon(weights, pi, q):
    joint = weights[:, None] * q
    resp = joint / (joint.sum(axis=1, keepdims=True) + 1e-10)
    return (pi[:, None, :] * resp).sum(axis=(0, 2)) / len(pi)


def em_step_naive(weights, pi, q):
    joint = weights[:, None] * q
    resp = joint / joint.sum(axis=1, keepdims=True)
    return (pi[:, None, :] * resp).sum(axis=(0, 2)) / len(pi)


def em_step_unchanged(weights, pi, q):
    return weights.copy()


SOLUTIONS = [
    ("2.1", sft_loss_solution),
    ("2.1", sft_loss_with_ignore_index),
    ("2.1", sft_loss_by_hand),
    ("2.2", persona_shift_solution),
    ("2.2", persona_shift_centred_first),
    ("2.2", persona_shift_in_torch),
    ("2.3", em_step_solution),
    ("2.3", em_step_with_loops),
    ("2.3", em_step_nan_to_num),
]

KNOWN_MISTAKES = [
    ("2.1", sft_loss_unmasked, "no_mask"),
    ("2.1", sft_loss_unmasked_and_naive, "no_mask"),
    ("2.1", sft_loss_mask_of_the_inputs, "mask_off_by_one"),
    ("2.1", sft_loss_dividing_by_all_targets, "all_targets_denominator"),
    ("2.1", sft_loss_mean_of_row_means, "mean_of_row_means"),
    ("2.1", sft_loss_log_of_softmax, "log_of_softmax"),
    ("2.2", persona_shift_b_minus_a, "sign_flipped"),
    ("2.2", persona_shift_on_v_itself, "not_normalised"),
    ("2.2", persona_shift_raw, "raw_activations"),
    ("2.2", persona_shift_per_row, "per_row_projections"),
    ("2.3", em_step_unweighted, "not_weighted_by_pi"),
    ("2.3", em_step_unweighted_and_naive, "not_weighted_by_pi"),
    ("2.3", em_step_unnormalised, "responsibilities_not_normalised"),
    ("2.3", em_step_without_prior, "forgot_prior_weights"),
    ("2.3", em_step_summed_over_contexts, "not_divided_by_n"),
    ("2.3", em_step_with_epsilon, "epsilon_in_denominator"),
    ("2.3", em_step_naive, "nan_from_zero_over_zero"),
]

ARBITRARY_WRONG = [
    ("2.1", sft_loss_summed),
    ("2.2", persona_shift_from_a),
    ("2.3", em_step_unchanged),
]


# ---------------------------------------------------------------------------------------------
# The checkers' verdicts


globals().update(checker_contract(EXERCISES, KNOWN_MISTAKES, ARBITRARY_WRONG, SOLUTIONS, CHECKERS))


def test_averaging_over_the_wrong_axis_crashes_with_the_shape_hint_in_the_message():
    # Na, Nb, M and C all differ, so means over the features cannot even be subtracted
    result = check(PERSONA_SHIFT, persona_shift_over_features)
    assert not result.passed and result.mistake is None
    assert isinstance(result.error, ValueError)
    assert "broadcast" in result.message
    assert f"[hint: {PERSONA_SHIFT.shape_hint}]" in result.message.splitlines()[0]
    assert "average over the rows (axis=0)" in PERSONA_SHIFT.shape_hint
    assert "case 1 of 4" in result.message


def test_a_crash_that_is_not_about_shapes_gets_no_shapehint_of():
    def crashes(acts_a, acts_b, acts_model):
        raise ValueError("too many personas")

    result = check(PERSONA_SHIFT, crashes)
    assert "ValueError: too many personas on case 1 of 4" in result.message
    assert "hint" not in result.message


# ---------------------------------------------------------------------------------------------
# The cases: each mistake is distinguishable, and the last case is the extreme one


@pytest.mark.parametrize(
    ("ex_id", "naive", "stable"),
    [
        ("2.1", sft_loss_log_of_softmax, sft_loss_solution),
        ("2.3", em_step_naive, em_step_solution),
    ],
)
def test_only_the_extreme_case_separates_the_naive_formula_from_the_stable_one(ex_id, naive, stable):
    ex = EXERCISES[ex_id]
    *ordinary, extreme = ex.cases()
    for case in ordinary:  # the two formulas agree on paper ...
        assert ex.compare(ex.run(naive, case), ex.run(stable, case))
    assert not np.isfinite(np.asarray(ex.run(naive, extreme))).all()  # ... but not here
    assert np.isfinite(np.asarray(ex.run(stable, extreme))).all()


def test_the_sft_extreme_case_has_reply_targets_whose_softmax_underflows_to_zero():
    logits, tokens, reply_mask = SFT_LOSS.cases()[-1]
    probs = torch.softmax(logits, dim=-1).gather(-1, tokens[:, 1:, None]).squeeze(-1)  # (B, T-1)
    assert (probs[reply_mask[:, 1:]] == 0).any()
    assert torch.isfinite(sft_loss(logits, tokens, reply_mask))


def test_the_sft_cases_mark_replies_only_on_real_tokens_and_every_row_has_some():
    for logits, tokens, reply_mask in SFT_LOSS.cases():
        B, T = tokens.shape
        assert logits.shape[:2] == (B, T - 1) and logits.dtype == torch.float64
        assert not reply_mask[:, 0].any()  # <bos> is not a reply token
        assert not reply_mask[tokens == PAD].any()
        assert reply_mask[:, 1:].sum(1).min() > 0
        assert (reply_mask[:, 1:] != reply_mask[:, :-1]).any()  # the off-by-one mask differs


def test_the_persona_shift_cases_have_distinct_sizes_and_the_last_a_large_common_offset():
    cases = PERSONA_SHIFT.cases()
    for acts_a, acts_b, acts_model in cases:
        (na, c), (nb, _), (m, _) = acts_a.shape, acts_b.shape, acts_model.shape
        assert len({na, nb, m, c}) == 4
    acts_a, acts_b, acts_model = cases[-1]
    assert acts_b.min() > 1e5
    # without subtracting B's mean the answer is off by about the offset; with it, it is O(1)
    assert abs(persona_shift_raw(acts_a, acts_b, acts_model)) > 1e4
    assert 0.5 < persona_shift_solution(acts_a, acts_b, acts_model) < 5.0


def test_the_em_extreme_case_has_impossible_and_nearly_impossible_replies():
    weights, pi, q = EM_STEP.cases()[-1]
    mix = np.einsum("p,npk->nk", weights, q)
    assert (q == 0).any() and (mix == 0).any()
    assert (pi[mix == 0] == 0).all()  # the policy never writes what no persona can
    assert (pi[mix < 1e-150] > 0).any()  # but it does write what every persona finds all but impossible
    np.testing.assert_allclose(pi.sum(1), 1.0)
    np.testing.assert_allclose(q.sum(2), 1.0)
    # the epsilon variant differs from the reference only here
    *ordinary, extreme = EM_STEP.cases()
    for case in ordinary:
        assert EM_STEP.compare(em_step_with_epsilon(*case), em_step_solution(*case))
    assert not EM_STEP.compare(em_step_with_epsilon(*extreme), em_step_solution(*extreme))


@pytest.mark.parametrize("ex_id", sorted(EXERCISES))
def test_the_cases_are_deterministic(ex_id):
    first, second = EXERCISES[ex_id].cases(), EXERCISES[ex_id].cases()
    for a, b in zip(first, second):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ---------------------------------------------------------------------------------------------
# The references agree with the library functions they mirror


@pytest.mark.parametrize("i", range(4))
def test_the_em_step_reference_is_the_library_em_step(i):
    weights, pi, q = EM_STEP.cases()[i]
    np.testing.assert_allclose(em_step(weights, pi, q), psm.em_step(weights, pi, q), rtol=1e-12, atol=0)


@pytest.mark.parametrize("i", range(4))
def test_the_persona_shift_reference_reads_0_for_b_and_the_norm_of_the_library_vector_for_a(i):
    # as the library's projection promises: 0 means "like B", ||v|| means "like A"
    acts_a, acts_b, _ = PERSONA_SHIFT.cases()[i]
    norm = np.linalg.norm(difference_of_means(acts_a, acts_b))
    assert persona_shift(acts_a, acts_b, acts_b) == pytest.approx(0.0, abs=1e-9 * (1 + np.abs(acts_b).max()))
    assert persona_shift(acts_a, acts_b, acts_a) == pytest.approx(norm, rel=1e-6)


@pytest.mark.parametrize("i", [0, 1])
def test_the_sft_loss_reference_is_lm_loss_with_the_reply_mask_as_weights(i):
    _, tokens, reply_mask = SFT_LOSS.cases()[i]
    V = int(tokens.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(i)
        model = GPT(GPTConfig(vocab_size=V, block_size=tokens.shape[1], n_layer=1, n_embd=16, n_head=2))
    model = model.double().eval()
    with torch.no_grad():
        logits = model(tokens[:, :-1])  # (B, T-1, V) float64
        ours = sft_loss(logits, tokens, reply_mask)
        library = lm_loss(model, tokens, PAD, weights=reply_mask[:, 1:].double())
    assert logits.dtype == torch.float64
    torch.testing.assert_close(ours, library, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# The notebook-facing checkers


def test_a_notebook_checker_raises_assertion_error_with_the_hint_on_a_known_mistake(capsys):
    with pytest.raises(AssertionError, match="reply_mask"):
        check_sft_loss(sft_loss_mask_of_the_inputs)
    assert capsys.readouterr().out.startswith("✗ Exercise 2.1: Your mask is shifted by one")


def test_a_notebook_checker_raises_on_a_stub(capsys):
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_em_step(stub)
    assert capsys.readouterr().out == f"✗ Exercise 2.3: {NOT_IMPLEMENTED}\n"


def test_the_checkers_are_registered_by_exercise_id():
    assert CHECKERS == {"2.1": check_sft_loss, "2.2": check_persona_shift, "2.3": check_em_step}
    assert set(EXERCISES) == set(CHECKERS)
    assert [ex.id for ex in EXERCISES.values()] == ["2.1", "2.2", "2.3"]


def test_the_cards_cite_the_equations():
    assert "eq. (2.1)" in SFT_LOSS.card()
    assert "eq. (2.4)" in PERSONA_SHIFT.card()
    assert "eq. (2.2)" in EM_STEP.card()
    for ex in EXERCISES.values():
        assert "Book: Chapter 2, Lab 2" in ex.reference.__doc__
