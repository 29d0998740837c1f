"""Chapter 3 library: exact best-of-n over a discrete response set, eqs. (3.4)-(3.6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personalab.align.bestofn import bestofn_kl, bestofn_probs, expected_reward, kl_bound, sample_bestofn


def random_policies(seed: int, N: int = 8, K: int = 6, levels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) policies with some zero-probability responses and rewards with ties."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(K, 0.7), size=N)
    p[rng.random((N, K)) < 0.2] = 0.0
    p[:, 0] += 1e-3
    p /= p.sum(1, keepdims=True)
    return p, rng.integers(0, levels, size=(N, K)).astype(float)


def assert_matches_monte_carlo(q: np.ndarray, picks: np.ndarray, draws: int) -> None:
    """Empirical frequencies within 5 binomial standard errors of q (exact where q is 0 or 1)."""
    freq = np.bincount(picks, minlength=q.size) / draws
    tol = 5 * np.sqrt(q * (1 - q) / draws) + 1e-12
    assert (np.abs(freq - q) <= tol).all(), (freq, q)


# ------------------------------------------------------------------ the distribution (3.4)


def test_one_sample_is_the_policy_itself():
    p, r = random_policies(0)
    assert np.array_equal(bestofn_probs(p, r, 1), p)


def test_the_result_is_a_distribution_that_keeps_impossible_responses_impossible():
    p, r = random_policies(1)
    for n in (2, 5, 50):
        q = bestofn_probs(p, r, n)
        np.testing.assert_allclose(q.sum(1), 1.0, rtol=0, atol=1e-14)
        assert (q >= 0).all() and (q[p == 0] == 0).all()


def test_a_hand_computed_case_with_distinct_rewards():
    # ascending reward: response 0 (F = 0.5), response 2 (F = 0.7), response 1 (F = 1)
    q = bestofn_probs(np.array([0.5, 0.3, 0.2]), np.array([1.0, 3.0, 2.0]), 2)
    expected = np.array([0.5**2, 1 - 0.7**2, 0.7**2 - 0.5**2])  # (0.25, 0.51, 0.24)
    np.testing.assert_allclose(q, expected, rtol=0, atol=1e-15)


def test_tied_responses_split_their_level_in_proportion_to_the_policy():
    p, r = np.array([0.4, 0.1, 0.3, 0.2]), np.array([2.0, 1.0, 2.0, 0.0])
    q = bestofn_probs(p, r, 3)
    top = 1 - 0.3**3  # some sample reaches the top level {0, 2}
    np.testing.assert_allclose(q, [top * 4 / 7, 0.3**3 - 0.2**3, top * 3 / 7, 0.2**3], rtol=0, atol=1e-15)
    draws = 200_000
    picks = sample_bestofn(np.tile(p, (draws, 1)), np.tile(r, (draws, 1)), 3, np.random.default_rng(0))
    assert_matches_monte_carlo(q, picks, draws)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    st.integers(1, 6).flatmap(
        lambda K: st.tuples(
            st.lists(st.floats(0.0, 1.0), min_size=K, max_size=K).filter(lambda w: sum(w) > 0.1),
            st.lists(st.integers(0, 3), min_size=K, max_size=K),  # few levels: ties are common
        )
    ),
    st.integers(1, 6),
    st.integers(0, 2**32 - 1),
)
def test_exact_distribution_matches_monte_carlo(case, n, seed):
    w, r = case
    p, r = np.array(w) / sum(w), np.array(r, dtype=float)
    draws = 20_000
    picks = sample_bestofn(np.tile(p, (draws, 1)), np.tile(r, (draws, 1)), n, np.random.default_rng(seed))
    assert_matches_monte_carlo(bestofn_probs(p, r, n), picks, draws)


def test_a_batch_is_its_rows_and_a_single_prompt_keeps_its_shape():
    p, r = random_policies(2)
    q = bestofn_probs(p, r, 4)
    assert q.shape == p.shape and bestofn_probs(p[3], r[3], 4).shape == (p.shape[1],)
    np.testing.assert_array_equal(q[3], bestofn_probs(p[3], r[3], 4))
    assert isinstance(bestofn_kl(p[3], r[3], 4), float) and bestofn_kl(p, r, 4).shape == (len(p),)
    assert isinstance(sample_bestofn(p[3], r[3], 4, np.random.default_rng(0)), int)


# ------------------------------------------------------------------ KL (3.5) and the bound (3.6)


def test_kl_is_zero_for_one_sample_and_grows_with_n():
    p, r = random_policies(3)
    kls = np.array([bestofn_kl(p, r, n) for n in range(1, 30)])  # (n, N)
    assert (kls[0] == 0).all()
    assert (np.diff(kls, axis=0) >= -1e-12).all()


@pytest.mark.parametrize("seed", range(5))
def test_kl_never_exceeds_the_analytic_formula(seed):
    p, r = random_policies(seed, N=20, levels=seed + 2)
    for n in (1, 2, 3, 8, 64, 1000):
        assert (bestofn_kl(p, r, n) <= kl_bound(n) + 1e-12).all()


def test_kl_reaches_the_formula_with_many_unlikely_distinct_responses():
    K = 10_000
    kl = bestofn_kl(np.full(K, 1 / K), np.arange(K, dtype=float), 4)
    assert kl <= kl_bound(4) and kl_bound(4) - kl < 1e-3


def test_two_equally_likely_responses_never_pay_more_than_log_2():
    """Beirami et al.'s counterexample: the formula grows like log n, the true KL stays bounded."""
    kl = bestofn_kl(np.array([0.5, 0.5]), np.array([0.0, 1.0]), 100)
    assert kl <= np.log(2) < kl_bound(100)


def test_kl_bound_is_the_textbook_formula():
    assert kl_bound(1) == 0.0
    assert kl_bound(4) == pytest.approx(np.log(4) - 3 / 4, abs=1e-15)


# ------------------------------------------------------------------ reward


def test_expected_reward_is_literal_and_never_falls_with_n():
    p, r = random_policies(4)
    np.testing.assert_allclose(expected_reward(p, r), (p * r).sum(1), rtol=0, atol=1e-15)
    assert expected_reward(np.array([0.25, 0.75]), np.array([4.0, 0.0])) == 1.0
    rewards = np.array([expected_reward(bestofn_probs(p, r, n), r) for n in range(1, 30)])  # (n, N)
    assert (np.diff(rewards, axis=0) >= -1e-12).all()


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(("n", "match"), [(0, "at least 1"), (-2, "at least 1"), (2.5, "integer"), (True, "integer")])
def test_bad_n_is_refused(n, match):
    with pytest.raises(ValueError, match=match):
        bestofn_probs(np.array([0.5, 0.5]), np.array([0.0, 1.0]), n)
    with pytest.raises(ValueError, match=match):
        kl_bound(n)


@pytest.mark.parametrize(
    ("probs", "rewards", "match"),
    [
        ([0.5, 0.4], [0.0, 1.0], "sum to 1.*normalise"),
        ([1.5, -0.5], [0.0, 1.0], "non-negative"),
        ([0.5, np.nan], [0.0, 1.0], "finite"),
        ([0.5, 0.5], [0.0, 1.0, 2.0], "same shape"),
        ([0.5, 0.5], [0.0, np.nan], "NaN"),
    ],
)
def test_bad_inputs_are_refused_with_the_fix(probs, rewards, match):
    for call in (
        lambda: bestofn_probs(np.array(probs), np.array(rewards), 2),
        lambda: expected_reward(np.array(probs), np.array(rewards)),
        lambda: sample_bestofn(np.array(probs), np.array(rewards), 2, np.random.default_rng(0)),
    ):
        with pytest.raises(ValueError, match=match):
            call()


def test_a_sum_within_tolerance_is_accepted():
    q = bestofn_probs(np.array([0.5, 0.5 + 5e-10]), np.array([0.0, 1.0]), 3)
    np.testing.assert_allclose(q.sum(), 1.0, rtol=0, atol=1e-15)
