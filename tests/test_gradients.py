"""Gradients, not only values: DPO's closed-form gradient, and RLOO's unbiasedness, exactly.

A loss can have the right value and the wrong gradient (a kink where training starts, a
detached term); these tests check what the optimiser actually sees, in float64.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from personalab.align.dpo import dpo_loss, ipo_loss
from personalab.align.rlhf import loo_advantages


def _pairs(seed: int, B: int = 7):
    rng = np.random.default_rng(seed)
    ref_w, ref_l = -rng.uniform(5, 40, B), -rng.uniform(5, 40, B)
    logp_w, logp_l = ref_w + rng.normal(0, 3, B), ref_l + rng.normal(0, 3, B)
    return [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (logp_w, logp_l)], ref_w, ref_l


def test_dpo_gradient_is_the_closed_form_beta_sigma_of_minus_beta_h():
    # d/d logp_w of -(1/B) sum log sigma(beta h) = -(beta/B) sigma(-beta h); logp_l gets the opposite
    # (Rafailov et al. 2023, sec. 4: the weight sigma(-beta h) is large where the implicit reward is wrong)
    beta = 0.7
    (lw, ll), ref_w, ref_l = _pairs(0)
    loss = dpo_loss(lw, ll, torch.from_numpy(ref_w), torch.from_numpy(ref_l), beta)
    loss.backward()
    h = (lw.detach().numpy() - ref_w) - (ll.detach().numpy() - ref_l)
    weight = beta / len(h) / (1.0 + np.exp(beta * h))  # (beta/B) sigma(-beta h)
    np.testing.assert_allclose(lw.grad.numpy(), -weight, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ll.grad.numpy(), weight, rtol=1e-12, atol=1e-15)


def test_dpo_gradient_at_the_start_of_training_is_half_beta_per_pair():
    # policy = reference: h = 0, sigma(0) = 1/2 -- where a formula with a kink goes wrong
    lw, ll = (torch.zeros(4, dtype=torch.float64, requires_grad=True) for _ in range(2))
    dpo_loss(lw, ll, torch.zeros(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64), 2.0).backward()
    np.testing.assert_allclose(lw.grad.numpy(), -0.25, rtol=1e-15)  # -(beta/B)/2 = -(2/4)/2


def test_ipo_gradient_is_the_closed_form_two_over_b_times_the_residual():
    tau = 0.25
    (lw, ll), ref_w, ref_l = _pairs(1)
    ipo_loss(lw, ll, torch.from_numpy(ref_w), torch.from_numpy(ref_l), tau).backward()
    h = (lw.detach().numpy() - ref_w) - (ll.detach().numpy() - ref_l)
    g = 2.0 / len(h) * (h - 1.0 / (2.0 * tau))
    np.testing.assert_allclose(lw.grad.numpy(), g, rtol=1e-12)
    np.testing.assert_allclose(ll.grad.numpy(), -g, rtol=1e-12)


def _expected_estimator(probs: np.ndarray, reward: np.ndarray, k: int, advantages) -> np.ndarray:
    """E over k i.i.d. draws of (1/k) sum_j A_j grad log pi(y_j), summed over all K**k draws exactly.

    For softmax logits theta, grad_theta log pi(y) = e_y - pi."""
    K = len(probs)
    total = np.zeros(K)
    for ys in itertools.product(range(K), repeat=k):
        weight = np.prod(probs[list(ys)])
        adv = np.asarray(advantages(reward[list(ys)][None, :]))[0]  # (k,)
        grads = np.eye(K)[list(ys)] - probs  # (k, K)
        total += weight * (adv[:, None] * grads).mean(0)
    return total


def test_rloo_is_an_unbiased_estimate_of_the_policy_gradient_on_the_bandit():
    # the exact gradient of E_pi[r] in the softmax logits: pi * (r - E_pi r)
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    reward = np.array([0.0, 1.0, -0.5, 2.0])
    exact = probs * (reward - probs @ reward)
    for k in (2, 3, 4):
        np.testing.assert_allclose(_expected_estimator(probs, reward, k, loo_advantages), exact, atol=1e-14)
    # the contrast: a baseline that includes the sample itself shrinks the gradient by (k - 1)/k
    with_self = lambda r: r - r.mean(1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(_expected_estimator(probs, reward, 3, with_self), exact * 2 / 3, atol=1e-14)


def test_rloo_in_the_bandit_trainer_uses_the_library_advantages():
    # the bandit's REINFORCE step is eq. (3.9) with the library's eq. (3.8): one step from pi_ref
    # moves the logits along a Monte-Carlo estimate whose mean is the exact gradient
    from personalab.align.bandit import Bandit, bandit_rlhf

    bandit = Bandit(np.array([0.5, 0.3, 0.2]), np.array([0.0, 1.0, 2.0]))
    run = bandit_rlhf(bandit, bandit.rewards, beta=1e-9, steps=1, samples=4096, lr=1e-3, log_every=1)
    moved = np.log(run.final) - np.log(bandit.ref_probs)
    exact = bandit.ref_probs * (bandit.rewards - bandit.ref_probs @ bandit.rewards)
    # Adam's first step is lr * sign(gradient) per logit (up to centring by the softmax)
    assert np.argmax(moved) == np.argmax(exact) and np.argmin(moved) == np.argmin(exact)
