"""The default world is pinned bit for bit: its hash, its sampled documents, its exact
inference and every prompt and reply text the library writes for it.

The shipped checkpoints are bound to the world hash and every lab result to the sampled
data, so a refactor of the world (issue 12: kinds that render their own text, one config
schema) must not move any of these. The digests were computed on main before that
refactor; a change here is a change of the world, not a refactor. Integers and texts are
hashed bit for bit; the exact inference's floats are compared by a fingerprint with a
tolerance (:func:`float_print`): NumPy's exp and log can differ in the last bit between
CPUs and NumPy builds (a byte hash pinned on one machine failed on another).
"""

from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pytest

from personalab import datasets
from personalab.align.raters import single_turn_prompts
from personalab.evals.behaviour import suites
from personalab.evals.incontext import answered_turn
from personalab.widgets.dialogue import FOLLOW_UPS, TURN_TEMPLATES
from personalab.world import PersonaWorld, WorldConfig, default_config


def sha(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:24]


def float_print(*arrays) -> list[float]:
    """A fingerprint of float arrays that survives last-bit differences between CPUs.

    NumPy's exp and log take other SIMD paths on AVX2 and AVX-512 machines and can differ
    in the last bit, so a hash of the bytes is machine-dependent. Instead: for each array,
    its number of non-finite entries (``-inf`` log-probabilities of impossible personas),
    and the sum and two random projections of its finite entries, compared with a relative
    tolerance of 1e-9 -- far above rounding noise, far below any change of the world."""
    out: list[float] = []
    for i, a in enumerate(arrays):
        a = np.asarray(a, dtype=np.float64)
        finite = np.isfinite(a)
        x = np.where(finite, a, 0.0)
        w = np.random.default_rng(i).random((2, *a.shape))
        out += [float((~finite).sum()), float(x.sum()), float((w[0] * x).sum()), float((w[1] * x).sum())]
    return out


def text_sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:24]


def arithmetic_world() -> PersonaWorld:
    raw = copy.deepcopy(default_config().to_dict())
    request = raw["kinds"]["request"]
    raw["kinds"] = {
        "sum": {"weight": 0.34},
        "sum_belief": {"weight": 0.25, "p_user_correct": 0.5},
        "request": request,
    }
    raw["max_operand"] = 3
    for p in raw["personas"].values():
        syc = p["traits"]["sycophancy"]
        p["traits"]["sum_sycophancy"] = {"agree": syc["agree"], "correct": syc["correct"], "other": syc["wrong"]}
    return PersonaWorld(WorldConfig.from_dict(raw))


@pytest.fixture(scope="module")
def world():
    return PersonaWorld.default()


def kind_texts(world: PersonaWorld) -> dict:
    out = {}
    for name, kind in world.grammar.kinds.items():
        prompts = kind.prompts()
        out[name] = {
            "prompts": [[t, repr(info)] for t, info in prompts],
            "describe": [kind.describe(info) for _, info in prompts],
        }
    return out


def library_texts(world: PersonaWorld) -> dict:
    corp = lambda c: [c.text(i) for i in range(len(c))]  # noqa: E731
    train, held = datasets.fact_split(world, seed=3)
    ctx = suites(world)
    return {
        "answered": {
            f"{w}-{f}": corp(datasets.answered_questions(world, 25, seed=1, wrong=w, flagged=f))
            for w in (True, False)
            for f in (True, False)
        },
        "fact_split": [train, held],
        "belief_corrections": corp(datasets.belief_corrections(world, 25, train, seed=2)),
        "answered_turn": [
            answered_turn(world, "ice hot", False, "well", True),
            answered_turn(world, "fire hot", True, "sure", False),
        ],
        "suites": {k: [world.vocab.decode(c) for c in s.contexts] for k, s in ctx.items()},
        "suites_prefixed": {
            k: [world.vocab.decode(c) for c in s.contexts]
            for k, s in suites(world, "user : is fire hot ? assistant : sure yes .").items()
        },
        "single_turn_prompts": single_turn_prompts(world),
        "follow_ups": FOLLOW_UPS,
        "turn_templates": TURN_TEMPLATES,
    }


PINNED = {
    "hash": "845d152747cafc48",
    "shuffled_hash": "e1e37a02c4d8afb0",
    "arithmetic_hash": "11a0cab46222a793",
    "vocab": "4c87915f122bd04dc3147849",
    "arithmetic_vocab": "1c6143f20ffec167dfdd98b8",
    "max_len": [74, 78],
    "sample": "394bb2288fb7461e5beb5e6f",
    "sample_persona": "11b12850550af002e4e8f32a",
    "score_latent": "a47bb56133590cd491721cb3",
    "score": [
        0.0,
        -48189.811091436924,
        -24051.367925841783,
        -24228.07557694456,
        0.0,
        -531202.319733233,
        -265660.2656504384,
        -265493.74113272247,
        0.0,
        -7201.99915672418,
        -3614.946377755654,
        -3634.236768731636,
        0.0,
        -7395.380732932999,
        -3712.315346486298,
        -3700.2433466537323,
    ],
    "posterior": [0.0, 52.0, 27.75413553278353, 25.883714235522618],
    "trait_tables": "137c75650ad675520664bf9a",
    "prior": "cec78c428f9a7f58cb1b3247",
    "shuffled_sample": "676429f8631f218664b525b6",
    "shuffled_score": [
        0.0,
        -22632.3446952554,
        -11336.153692606342,
        -11376.921513874408,
        0.0,
        -1042772.329530935,
        -521400.28965523565,
        -521340.06418700534,
        0.0,
        -3447.9993309313277,
        -1685.7267858806345,
        -1724.4954538639286,
    ],
    "arithmetic_sample": "05169d4bef7884dc262bd707",
    "arithmetic_score": [
        0.0,
        -25185.808081112493,
        -12656.714209412725,
        -12640.444219130575,
        0.0,
        -284339.29948549485,
        -142514.4968821922,
        -142331.84321915155,
        0.0,
        -3792.3993191804757,
        -1904.1547479322203,
        -1893.179369829486,
    ],
    "kind_texts": "c799b6ca8fc68fbf320563fe",
    "arithmetic_kind_texts": "e30e7b7f9f159b6be5e0b739",
    "library_texts": "bb50bfdc1d3644bbf0a01b08",
}


def measured() -> dict:
    world = PersonaWorld.default()
    shuffled = world.shuffled()
    arith = arithmetic_world()
    corpus = world.sample(2000, seed=0)
    sc = world.score(corpus[:400])
    post = world.posterior(corpus.doc(0).astype(np.int64))
    sh = shuffled.sample(500, seed=1)
    sh_sc = shuffled.score(sh[:200])
    ar = arith.sample(500, seed=2)
    ar_sc = arith.score(ar[:200])
    return {
        "hash": world.hash,
        "shuffled_hash": shuffled.hash,
        "arithmetic_hash": arith.hash,
        "vocab": text_sha(list(world.vocab.words)),
        "arithmetic_vocab": text_sha(list(arith.vocab.words)),
        "max_len": [world.max_len, arith.max_len],
        "sample": sha(corpus.tokens, corpus.lengths, corpus.latents),
        "sample_persona": sha(world.sample(300, seed=5, persona="villain").tokens),
        "score_latent": sha(sc.latent),
        "score": float_print(sc.logp, sc.log_posterior, sc.bayes_logprob, sc.blind_logprob),
        "posterior": float_print(post),
        "trait_tables": sha(*[world.grammar.trait_tables[t] for t in sorted(world.grammar.traits)]),
        "prior": sha(world.prior),
        "shuffled_sample": sha(sh.tokens, sh.lengths, sh.latents),
        "shuffled_score": float_print(sh_sc.logp, sh_sc.log_posterior, sh_sc.bayes_logprob),
        "arithmetic_sample": sha(ar.tokens, ar.lengths, ar.latents),
        "arithmetic_score": float_print(ar_sc.logp, ar_sc.log_posterior, ar_sc.bayes_logprob),
        "kind_texts": text_sha(kind_texts(world)),
        "arithmetic_kind_texts": text_sha(kind_texts(arith)),
        "library_texts": text_sha(library_texts(world)),
    }


def _same(got, pinned) -> bool:
    if isinstance(pinned, list) and pinned and isinstance(pinned[0], float):
        return len(got) == len(pinned) and bool(np.allclose(got, pinned, rtol=1e-9, atol=1e-9))
    return got == pinned


def test_the_default_world_is_bit_identical_to_the_one_the_checkpoints_and_labs_were_made_on():
    got = measured()
    changed = {k: (got[k], v) for k, v in PINNED.items() if not _same(got[k], v)}
    assert not changed, f"the default world changed (measured, pinned): {changed}"


if __name__ == "__main__":  # pragma: no cover - prints the digests to pin
    print(json.dumps(measured(), indent=4))
