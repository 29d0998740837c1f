"""The PSM scorecard: its hull distance is exact, its user-token mask is the user's words, and
on the pre-trained base it says what a well-trained simulator should (inside the hull, tiny
drift)."""

from __future__ import annotations

import numpy as np
import pytest

from personalab.evals.behaviour import RATES, world_rates
from personalab.evals.scorecard import hull_distance, persona_rate_matrix, psm_scorecard, user_token_mask
from personalab.train import load_base
from personalab.world import PersonaWorld


@pytest.fixture(scope="module")
def world():
    return PersonaWorld.default()


def test_hull_distance_is_zero_inside_and_at_the_vertices():
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    for point in ([0.5, 0.5], [0.2, 0.9], [1.0, 1.0], [0.0, 0.3]):
        d, w = hull_distance(np.array(point), square)
        assert d == pytest.approx(0.0, abs=1e-12)
        assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
        assert w @ square == pytest.approx(point)


def test_hull_distance_outside_is_the_distance_to_the_nearest_face():
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert hull_distance(np.array([0.5, 1.5]), square)[0] == pytest.approx(0.5)  # nearest edge
    assert hull_distance(np.array([2.0, 2.0]), square)[0] == pytest.approx(np.sqrt(2))  # nearest vertex
    triangle = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert hull_distance(np.array([0.2, 0.2, 0.7]), triangle)[0] == pytest.approx(0.7)  # off the plane


def test_hull_distance_agrees_with_a_dense_search_over_the_simplex():
    rng = np.random.default_rng(0)
    vertices = rng.random((4, 3))
    point = rng.random(3) * 2 - 0.5
    w = rng.dirichlet(np.ones(4), size=200_000)
    brute = np.linalg.norm(w @ vertices - point, axis=1).min()
    exact, _ = hull_distance(point, vertices)
    assert exact <= brute + 1e-12
    assert brute - exact < 5e-3


def test_persona_rate_matrix_holds_each_personas_exact_rates(world):
    R = persona_rate_matrix(world)
    for i, p in enumerate(world.personas):
        assert R[i] == pytest.approx([world_rates(world, p)[r] for r in RATES])


def test_the_prior_mixture_of_rates_is_inside_the_hull(world):
    prior_rates = np.array([world_rates(world)[r] for r in RATES])
    assert hull_distance(prior_rates, persona_rate_matrix(world))[0] == pytest.approx(0.0, abs=1e-12)


def test_user_token_mask_marks_the_words_the_user_types(world):
    docs = world.sample(20, seed=3)
    mask = user_token_mask(world, docs)
    for i in range(len(docs)):
        words = world.vocab.decode(docs.tokens[i, : docs.lengths[i]]).split()
        marked = [w for w, m in zip(words, mask[i]) if m]
        assert marked, "every document has a user turn"
        assert not {"assistant", "user", ":", "<bos>"} & set(marked)
        # the first words after every "user :" are the user's
        starts = [t + 2 for t, w in enumerate(words) if w == "user"]
        assert all(mask[i, t] for t in starts if t < len(words))


def test_the_base_model_scores_as_a_simulator(world):
    """Pre-trained, the model should be (nearly) the prior mixture: inside the hull, a small
    residual, almost no off-world mass and almost no drift on the user's words."""
    model, _ = load_base()
    card = psm_scorecard(model, world)
    assert card.inside_hull(tol=1e-6)
    assert 0 <= card.residual < 0.02
    assert 0 <= card.off_world < 0.01
    assert abs(card.user_drift) < 0.01
    assert sum(card.weights.values()) == pytest.approx(1.0)
    assert set(card.row()) == {*RATES, "residual", "hull_distance", "off_world", "user_drift"}


def test_scorecard_table_has_one_row_per_method_and_every_column(world):
    from personalab.evals.scorecard import SCORECARD_COLUMNS, Scorecard, scorecard_table

    card = Scorecard(
        rates=dict.fromkeys(RATES, 0.5),
        residual=0.01,
        weights={},
        hull_distance=0.0,
        hull_weights={},
        off_world=0.0,
        user_drift=0.001,
    )
    lines = scorecard_table({"base": card, "a longer name": card}).splitlines()
    assert len(lines) == 3
    assert all(short in lines[0] for _, short in SCORECARD_COLUMNS)
    assert lines[1].startswith("base") and "0.5000" in lines[1]
    assert max(map(len, lines)) <= 100


def test_scorecard_keys_are_ascii_slugs():
    from personalab.evals.scorecard import scorecard_key

    assert scorecard_key("RLHF β=0.02, bias 3") == "rlhf_0_02_bias_3"
    assert scorecard_key("base (pre-trained)") == "base_pre_trained"


def test_user_drift_rise_is_the_paired_difference_with_an_honest_standard_error(world):
    """Chapter 2, claim 5d: the rise of the user drift over the base model's and its standard
    error. The rise is exactly the difference of the two drifts on the same documents; a model
    against itself rises by 0 with error 0; and the standard error from one corpus matches
    the spread of the rise over independent corpora (Monte Carlo, 8 corpora of 150)."""
    import copy

    import torch

    from personalab.evals.scorecard import user_drift, user_drift_rise

    base, _ = load_base()
    noisy = copy.deepcopy(base)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in noisy.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    docs = world.sample(150, seed=[777, 0])
    assert user_drift_rise(base, base, world, docs) == (0.0, 0.0)
    rise, se = user_drift_rise(noisy, base, world, docs)
    assert rise == pytest.approx(user_drift(noisy, world, docs) - user_drift(base, world, docs), abs=1e-9)
    assert rise > 10 * se > 0, "weight noise of 0.05 should raise the drift far beyond its error"
    rises = [user_drift_rise(noisy, base, world, world.sample(150, seed=[777, k]))[0] for k in range(1, 9)]
    spread = float(np.std(rises, ddof=1))
    # for normal draws, the sample std of 8 is within a factor 2 of the true std with
    # probability 0.97 (simulated); the seeds are fixed, so this test is deterministic
    assert se / 2 < spread < se * 2, (se, spread, rises)


def test_user_drift_rise_needs_documents(world):
    from personalab.evals.scorecard import user_drift_rise

    base, _ = load_base()
    with pytest.raises(ValueError, match="at least 2 documents"):
        user_drift_rise(base, base, world, world.sample(1, seed=0))
