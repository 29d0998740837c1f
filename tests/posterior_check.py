"""The Monte Carlo check of the exact posterior, shared by the default and extended worlds'
tests: among sampled documents whose first reply carries the same evidence (its kind, its
style word and each persona's probability of its content token), the true writer must be
distributed as the exact posterior says."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def first_turn_posterior_check(world, corpus, indices: Iterable[int], *, min_members: int) -> int:
    """Group documents ``indices`` of ``corpus`` by the evidence of their first reply and
    assert (4-sigma bands) that each group of at least ``min_members`` has its writers in
    the proportions of the exact posterior, which must be the same for every document of a
    group; returns the number of groups checked."""
    groups: dict[tuple, list[int]] = {}
    posts: dict[tuple, np.ndarray] = {}
    for i in indices:
        doc = corpus.doc(i)
        t0 = world.turns(doc)[0]
        content = world.grammar.kinds[t0.kind].content(t0.info)
        likelihood = tuple(np.round(content.dist.probs[:, doc[t0.content_pos]], 12))
        key = (t0.kind, int(doc[t0.style_pos]), likelihood)
        groups.setdefault(key, []).append(int(corpus.personas[i]))
        post = world.posterior(doc[: t0.content_pos + 1])[-1]
        if key in posts:  # same evidence, same posterior, whatever the user said
            np.testing.assert_allclose(post, posts[key], atol=1e-12)
        posts[key] = post
    checked = 0
    for key, members in groups.items():
        if len(members) < min_members:
            continue
        freq = np.bincount(members, minlength=len(world.personas)) / len(members)
        p = posts[key]
        sigma = np.sqrt(p * (1 - p) / len(members))
        assert (np.abs(freq - p) <= 4 * sigma + 1e-9).all(), (key, freq, p)
        checked += 1
    return checked
