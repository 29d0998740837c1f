"""The exercise checkers of Chapter 1, Lab 1 (book: Preface, *A classroom path*; Appendix A, (A.2)-(A.4)).

Each checker must fail on the stub, name the intended mistake for each known-wrong variant,
fail with the generic message on any other wrong function, and pass on a correct solution.
The wrong variants and the correct solutions below are written independently, as a learner
would write them: they are *not* the ``Mistake.impl`` or reference objects of the checkers, so
a checker that compared a function with itself would fail these tests.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_contract import checker_contract, stub

from personalab.exercises import Exercise, Mistake, check, exercise_checker
from personalab.exercises.ch01 import (
    BAYES_LOSS,
    CHECKERS,
    EXERCISES,
    POSTERIOR_UPDATE,
    PROBE_STEP,
    check_bayes_loss,
    check_posterior_update,
    check_probe_step,
)
from personalab.exercises.core import NOT_IMPLEMENTED

# ---------------------------------------------------------------------------------------------
# Learner code, written independently of personalab.exercises.ch01


# -- 1.1 posterior_update ---------------------------------------------------------------------


def posterior_update_solution(log_post, token_logp):
    joint = log_post + token_logp
    return joint - np.logaddexp.reduce(joint)


def posterior_update_via_stable_softmax(log_post, token_logp):
    # also correct: shift by the maximum before exponentiating, so nothing underflows to 0/0
    joint = log_post + token_logp
    w = np.exp(joint - joint.max())
    return np.log(w / w.sum())


def posterior_update_in_place(log_post, token_logp):
    # correct, but scribbles over its inputs: the checker must not let this corrupt the reference
    log_post += token_logp
    log_post -= np.logaddexp.reduce(log_post)
    token_logp[:] = 0.0
    return log_post


def posterior_update_unnormalised(log_post, token_logp):
    return log_post + token_logp


def posterior_update_probability_space(log_post, token_logp):
    unnorm = np.exp(log_post) * np.exp(token_logp)
    return np.log(unnorm / np.sum(unnorm))


def posterior_update_subtracting(log_post, token_logp):
    joint = log_post - token_logp
    return joint - np.logaddexp.reduce(joint)


def posterior_update_as_probabilities(log_post, token_logp):
    joint = log_post + token_logp
    w = np.exp(joint - joint.max())
    return w / w.sum()


def posterior_update_ignoring_token(log_post, token_logp):
    return log_post.copy()


# -- 1.2 bayes_loss ---------------------------------------------------------------------------


def bayes_loss_solution(log_post_before, token_logp, mask):
    mixed = torch.logsumexp(torch.from_numpy(log_post_before + token_logp), dim=1).numpy()  # (T,)
    return float(-mixed[mask].mean())


def bayes_loss_with_prior_everywhere(log_post_before, token_logp, mask):
    prior = log_post_before[0]
    per_position = [np.logaddexp.reduce(prior + token_logp[t]) for t in range(len(mask))]
    return -float(np.mean(np.array(per_position)[mask]))


def bayes_loss_with_posterior_after(log_post_before, token_logp, mask):
    after = log_post_before + token_logp
    after = after - np.logaddexp.reduce(after, axis=1, keepdims=True)
    return -float(np.mean(np.logaddexp.reduce(after + token_logp, axis=1)[mask]))


def bayes_loss_averaging_log_losses(log_post_before, token_logp, mask):
    total = 0.0
    for t in np.flatnonzero(mask):
        total += -np.dot(np.exp(log_post_before[t]), token_logp[t])
    return total / mask.sum()


def bayes_loss_ignoring_mask(log_post_before, token_logp, mask):
    return -float(np.mean(np.logaddexp.reduce(log_post_before + token_logp, axis=1)))


def bayes_loss_naive(log_post_before, token_logp, mask):
    mixed = np.log(np.sum(np.exp(log_post_before) * np.exp(token_logp), axis=1))
    return -float(mixed[mask].mean())


def bayes_loss_constant(log_post_before, token_logp, mask):
    return 1.0


# -- 1.3 probe_step ---------------------------------------------------------------------------


def probe_step_solution(probe, optimizer, acts, labels):
    optimizer.zero_grad()
    loss = torch.nn.CrossEntropyLoss()(probe(acts), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def probe_step_zeroing_after_the_step(probe, optimizer, acts, labels):
    # also correct: a fresh probe has no gradients, so clearing them afterwards is equivalent
    logp = F.log_softmax(probe(acts), dim=-1)
    loss = -logp[torch.arange(len(labels)), labels].mean()
    loss.backward()
    optimizer.step()
    probe.zero_grad()
    return float(loss.detach())


def probe_step_without_zero_grad(probe, optimizer, acts, labels):
    loss = F.cross_entropy(probe(acts), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def probe_step_softmax_first(probe, optimizer, acts, labels):
    optimizer.zero_grad()
    loss = torch.nn.CrossEntropyLoss()(torch.softmax(probe(acts), dim=1), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def probe_step_without_step(probe, optimizer, acts, labels):
    optimizer.zero_grad()
    loss = F.cross_entropy(probe(acts), labels)
    loss.backward()
    return loss.item()


def probe_step_log_of_softmax(probe, optimizer, acts, labels):
    optimizer.zero_grad()
    probs = torch.softmax(probe(acts), dim=1)
    loss = -torch.log(probs[torch.arange(len(labels)), labels]).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def probe_step_mse(probe, optimizer, acts, labels):
    optimizer.zero_grad()
    target = F.one_hot(labels, num_classes=probe.out_features).to(acts.dtype)
    loss = ((probe(acts) - target) ** 2).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def probe_step_summed_loss(probe, optimizer, acts, labels):
    optimizer.zero_grad()
    loss = F.cross_entropy(probe(acts), labels, reduction="sum")
    loss.backward()
    optimizer.step()
    return loss.item()


def probe_step_returning_tensor(probe, optimizer, acts, labels):
    optimizer.zero_grad()
    loss = F.cross_entropy(probe(acts), labels)
    loss.backward()
    optimizer.step()
    return loss


SOLUTIONS = [
    ("1.1", posterior_update_solution),
    ("1.1", posterior_update_via_stable_softmax),
    ("1.1", posterior_update_in_place),
    ("1.2", bayes_loss_solution),
    ("1.3", probe_step_solution),
    ("1.3", probe_step_zeroing_after_the_step),
]

KNOWN_MISTAKES = [
    ("1.1", posterior_update_unnormalised, "not_normalised"),
    ("1.1", posterior_update_probability_space, "probability_space"),
    ("1.1", posterior_update_subtracting, "subtracted_likelihood"),
    ("1.1", posterior_update_as_probabilities, "returned_probabilities"),
    ("1.2", bayes_loss_with_prior_everywhere, "persona_blind"),
    ("1.2", bayes_loss_with_posterior_after, "posterior_after_token"),
    ("1.2", bayes_loss_averaging_log_losses, "averaged_log_losses"),
    ("1.2", bayes_loss_ignoring_mask, "ignored_mask"),
    ("1.2", bayes_loss_naive, "naive_logsumexp"),
    ("1.3", probe_step_without_zero_grad, "forgot_zero_grad"),
    ("1.3", probe_step_softmax_first, "softmax_before_cross_entropy"),
    ("1.3", probe_step_without_step, "forgot_step"),
    ("1.3", probe_step_log_of_softmax, "log_of_softmax"),
    ("1.3", probe_step_mse, "mse_on_one_hot"),
]

ARBITRARY_WRONG = [
    ("1.1", posterior_update_ignoring_token),
    ("1.2", bayes_loss_constant),
    ("1.3", probe_step_summed_loss),
]


# ---------------------------------------------------------------------------------------------
# The checkers' verdicts


globals().update(checker_contract(EXERCISES, KNOWN_MISTAKES, ARBITRARY_WRONG, SOLUTIONS, CHECKERS))


def test_a_crash_is_reported_with_the_exception_and_the_case():
    def crashes_on_extreme_values(log_post, token_logp):
        if token_logp.max() < -100:
            raise ValueError("too small")
        return posterior_update_solution(log_post, token_logp)

    result = check(POSTERIOR_UPDATE, crashes_on_extreme_values)
    assert not result.passed and result.mistake is None
    assert "ValueError: too small" in result.message
    assert "case 4 of 4 (the numerical-stability case)" in result.message
    assert isinstance(result.error, ValueError)


def test_a_wrong_shape_is_reported_with_both_shapes():
    result = check(POSTERIOR_UPDATE, lambda lp, tl: posterior_update_solution(lp, tl)[None, :])
    assert not result.passed and result.mistake is None
    assert "shape (1, 5)" in result.message and "shape (5,)" in result.message


def test_probe_step_must_return_a_python_float():
    result = check(PROBE_STEP, probe_step_returning_tensor)
    assert not result.passed and result.mistake is None
    assert "loss.item()" in result.message


def test_the_probe_checker_leaves_the_global_torch_state_alone():
    rng, threads = torch.get_rng_state(), torch.get_num_threads()
    check(PROBE_STEP, probe_step_solution)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.get_num_threads() == threads


# ---------------------------------------------------------------------------------------------
# The cases: each mistake is distinguishable, and the last case tests numerical stability


@pytest.mark.parametrize(
    ("ex_id", "naive", "stable"),
    [
        ("1.1", posterior_update_probability_space, posterior_update_solution),
        ("1.2", bayes_loss_naive, bayes_loss_solution),
        ("1.3", probe_step_log_of_softmax, probe_step_solution),
    ],
)
def test_only_the_extreme_case_separates_probability_space_from_log_space(ex_id, naive, stable):
    ex = EXERCISES[ex_id]
    *ordinary, extreme = ex.cases()
    for case in ordinary:  # the two formulas agree on paper ...
        assert ex.compare(ex.run(naive, case), ex.run(stable, case))
    naive_out, stable_out = ex.run(naive, extreme), ex.run(stable, extreme)
    as_array = lambda out: np.concatenate([np.ravel(v) for v in out.values()]) if isinstance(out, dict) else out
    assert not np.isfinite(as_array(naive_out)).all()  # ... but exp() underflows here
    assert np.isfinite(as_array(stable_out)).all()


def test_the_posterior_cases_include_a_persona_that_cannot_write_the_token():
    assert any(np.isneginf(token_logp).any() for _, token_logp in POSTERIOR_UPDATE.cases())


def test_the_bayes_loss_cases_are_consistent_documents_with_masked_positions():
    for log_post_before, token_logp, mask in BAYES_LOSS.cases():
        assert not mask[0] and mask.any()
        np.testing.assert_allclose(np.logaddexp.reduce(log_post_before, axis=1), 0.0, atol=1e-12)
        for t in range(len(mask) - 1):  # row t + 1 is row t updated by token t, eq. (A.2)
            np.testing.assert_allclose(
                log_post_before[t + 1], posterior_update_solution(log_post_before[t], token_logp[t]), atol=1e-9
            )


# ---------------------------------------------------------------------------------------------
# The notebook-facing checkers


def test_a_notebook_checker_raises_assertion_error_with_the_hint_on_a_known_mistake(capsys):
    with pytest.raises(AssertionError, match="normalise"):
        check_posterior_update(posterior_update_unnormalised)
    assert capsys.readouterr().out.startswith("✗ Exercise 1.1: Did you forget to normalise?")


def test_a_notebook_checker_raises_on_a_stub(capsys):
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_bayes_loss(stub)
    assert capsys.readouterr().out == f"✗ Exercise 1.2: {NOT_IMPLEMENTED}\n"


def test_the_checkers_are_registered_by_exercise_id():
    assert CHECKERS == {"1.1": check_posterior_update, "1.2": check_bayes_loss, "1.3": check_probe_step}
    assert set(EXERCISES) == set(CHECKERS)


def test_a_failure_message_contains_no_memory_addresses():
    result = check(BAYES_LOSS, lambda lp, tl, m: object())
    assert not result.passed and "0x" not in result.message


def test_difficulty_is_one_to_three_stars():
    with pytest.raises(ValueError, match="1-3 stars"):
        Exercise("0.0", "f", 4, 5, "def f(): ...", lambda: 0, lambda: [()])


def test_a_custom_exercise_uses_its_mistakes_before_the_reference():
    ex = Exercise(
        id="0.1",
        title="double",
        difficulty=1,
        minutes=1,
        signature="def double(x): ...",
        reference=lambda x: 2 * x,
        cases=lambda: [(np.array([1.0, -2.0]),), (np.array([1e300]),)],
        mistakes=[Mistake("squared", "Double, do not square.", lambda x: x**2)],
    )
    assert check(ex, lambda x: x * x).mistake == "squared"
    assert check(ex, lambda x: x + x).passed
    checker = exercise_checker(ex)
    with pytest.raises(AssertionError, match="Double, do not square"):
        checker(lambda x: np.square(x))


def test_a_function_that_is_nan_everywhere_gets_the_generic_message_not_the_underflowhint_of():
    result = check(POSTERIOR_UPDATE, lambda log_post, token_logp: log_post * np.nan)
    assert not result.passed and result.mistake is None
    assert "NaN or inf where the reference is finite" in result.message
