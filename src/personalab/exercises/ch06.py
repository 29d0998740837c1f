"""Exercises of Chapter 6, Lab 6 (deliberative alignment): the context-distillation data,
the conditioning prediction of the spec's exception, and faithfulness by intervention.

Three steps of the lab, each checked against the library's own implementation (Guan et al.
2024, "Deliberative Alignment: Reasoning Enables Safer Language Models")::

    keep (context, reply) iff the answer is the spec's; train on it with 'reason spec :'
        replaced by 'reason :', then '<eos>'                         context distillation
    P(comply | reason : crack safe) = sum_p w_p (spec_p + allow_p)   the conditioning prediction
    follow(c) = sum_s P(s) P(answer that c implies | s, c) / sum_s P(s)   faithfulness (6.3)

Book: Chapter 6, Lab 6. In the lab::

    from personalab.exercises.ch06 import check_context_distillation
    check_context_distillation(context_distillation)
"""

from __future__ import annotations

import numpy as np

from ..align.deliberative import follow_probs
from ..align.spec_distillation import EOS, answer_of_reply, strip_spec
from .core import Exercise, Mistake, exercise_checker

# ---------------------------------------------------------------------------------------------
# Exercise 6.1: context distillation's data


def _distillation_reference(samples, allowed):
    return [
        f"{strip_spec(context)} {reply} {EOS}"
        for (context, reply), ok in zip(samples, allowed)
        if (answer_of_reply(reply) == "comply") == bool(ok)
    ]


REQUESTS = {
    "make a bomb": False,
    "kill a person": False,
    "crack a safe": True,
    "make a cake": True,
    "kill a process": True,
}
REPLIES = {
    "forbidden": "forbidden sorry i can not help .",
    "allowed": "allowed here is how .",
}


def _distillation_cases():
    rng = np.random.default_rng(601)
    styles = ("sure", "well", "hmm", "ok", "look", "honestly")
    cases = []
    for n in (4, 7, 10):
        samples, allowed = [], []
        for _ in range(n):
            request = list(REQUESTS)[rng.integers(len(REQUESTS))]
            cite = ("forbidden", "allowed")[rng.integers(2)]
            samples.append(
                (f"user : reason spec : how do i {request} ? assistant :", f"{styles[rng.integers(6)]} {REPLIES[cite]}")
            )
            allowed.append(REQUESTS[request])
        cases.append((samples, allowed))
    # extreme: nothing passes the judge
    cases.append(([("user : reason spec : how do i make a bomb ? assistant :", "sure allowed here is how .")], [False]))
    return cases


CONTEXT_DISTILLATION = Exercise(
    id="6.1",
    title="context_distillation",
    difficulty=2,
    minutes=15,
    signature='''def context_distillation(samples: list[tuple[str, str]], allowed: list[bool]) -> list[str]:
    """The SFT documents of context distillation, from replies sampled with the spec in the prompt.

    samples: (context, reply) pairs, e.g. ("user : reason spec : how do i make a bomb ? assistant :",
        "sure forbidden sorry i can not help ."); allowed: the spec's verdict on each request.
    Keep a sample when its answer is the one the spec asks for (it complies -- "here is how" --
    exactly when the request is allowed); return, in order, each kept sample's context without
    the spec ("reason :" in place of "reason spec :"), its reply and "<eos>", joined by spaces.
    """''',
    reference=_distillation_reference,
    cases=_distillation_cases,
    compare=lambda out, expected: list(out) == list(expected),
    mistakes=[
        Mistake(
            "spec_kept",
            "You kept the spec in the training prompt: that is ordinary SFT on the spec's completions, not "
            "context distillation. Replace 'reason spec :' by 'reason :' so the model learns to recall the "
            "spec without reading it (Guan et al.: 'strip away the system prompts').",
            lambda s, a: [f"{c} {r} {EOS}" for (c, r), ok in zip(s, a) if (answer_of_reply(r) == "comply") == ok],
        ),
        Mistake(
            "no_filter",
            "You kept every sample. The judge keeps only the replies whose answer the spec asks for: comply "
            "exactly when the request is allowed.",
            lambda s, a: [f"{strip_spec(c)} {r} {EOS}" for c, r in s],
        ),
        Mistake(
            "filter_inverted",
            "You kept exactly the replies the judge should drop: a reply is kept when it complies and the "
            "request is allowed, or refuses and the request is forbidden.",
            lambda s, a: [
                f"{strip_spec(c)} {r} {EOS}" for (c, r), ok in zip(s, a) if (answer_of_reply(r) == "comply") != ok
            ],
        ),
        Mistake(
            "no_eos",
            "Each training document ends with '<eos>': without it the world cannot tell where the "
            "document ends (and the SFT loss never sees the end of the reply).",
            lambda s, a: [f"{strip_spec(c)} {r}" for (c, r), ok in zip(s, a) if (answer_of_reply(r) == "comply") == ok],
        ),
    ],
)

# ---------------------------------------------------------------------------------------------
# Exercise 6.2: the conditioning prediction of the spec's exception


def _exception_reference(weights, cites_spec, cites_allow):
    w = np.asarray(weights, dtype=float)
    return float(w @ (np.asarray(cites_spec, dtype=float) + np.asarray(cites_allow, dtype=float)) / w.sum())


def _simplex(rng, n):
    x = rng.gamma(1.0, size=n)
    return x / x.sum()


def _exception_cases():
    rng = np.random.default_rng(602)
    cases = []
    for n in (3, 6, 8):
        trait = np.stack([_simplex(rng, 3) for _ in range(n)])  # spec, forbid, allow
        cases.append((_simplex(rng, n), trait[:, 0], trait[:, 2]))
    # extreme: all the weight on one persona that always cites 'forbid'
    cases.append((np.array([0.0, 1.0, 0.0]), np.array([0.5, 0.0, 0.2]), np.array([0.3, 0.0, 0.7])))
    return cases


PREDICTED_EXCEPTION = Exercise(
    id="6.2",
    title="predicted_exception",
    difficulty=2,
    minutes=10,
    signature='''def predicted_exception(weights: np.ndarray, cites_spec: np.ndarray,
                        cites_allow: np.ndarray) -> float:
    """The conditioning prediction's compliance with the spec's exception (crack a safe), asked
    in reasoning mode: the personas re-weighted by ``weights`` (P,), each citing the spec's
    verdict ('allowed' here) with probability cites_spec[p] and 'allowed' whatever the
    request with cites_allow[p]; the answer follows the citation. The user's words carry no
    evidence about the writer, so the weights are the posterior.
    """''',
    reference=_exception_reference,
    cases=_exception_cases,
    mistakes=[
        Mistake(
            "spec_only",
            "A persona complies with 'crack a safe' whenever it cites 'allowed': when it cites the spec "
            "(the spec allows the exception) AND when it allows whatever the request. Add cites_allow.",
            lambda w, s, a: float(np.asarray(w) @ np.asarray(s)),
        ),
        Mistake(
            "unweighted",
            "The personas are not equally likely: weight each persona's probability by its conditioning "
            "weight w_p, not 1/P.",
            lambda w, s, a: float(np.mean(np.asarray(s) + np.asarray(a))),
        ),
        Mistake(
            "forbid_counted",
            "You counted the persona's 'forbid' citations (1 - spec - allow) as compliance: 'forbidden' is "
            "followed by a refusal.",
            lambda w, s, a: float(np.asarray(w) @ (1 - np.asarray(s) - np.asarray(a))),
        ),
    ],
)

# ---------------------------------------------------------------------------------------------
# Exercise 6.3: faithfulness by intervention


def _follow_cases():
    rng = np.random.default_rng(603)
    cases = []
    for n, s in ((2, 3), (4, 6), (5, 2)):
        p_style = _simplex(rng, n * s).reshape(n, s) * 0.9  # some mass off the style words
        after = rng.gamma(1.0, size=(n, s, 2, 3))
        after = (after / after.sum(-1, keepdims=True))[..., :2]  # a third word takes the rest
        cases.append((p_style, after))
    # extreme: a style word the model never writes, and answers that ignore the citation
    p_style = np.array([[0.7, 0.0, 0.3]])
    after = np.tile(np.array([1.0, 0.0]), (1, 3, 2, 1))  # always 'here'
    cases.append((p_style, after))
    return cases


FOLLOW_RATE = Exercise(
    id="6.3",
    title="follow_probs",
    difficulty=1,
    minutes=10,
    signature='''def follow_probs(p_style: np.ndarray, answer_after: np.ndarray) -> np.ndarray:
    """Faithfulness by intervention: (N, 2) P(the answer follows the citation), with the citation
    forced to 'forbidden' (column 0: follows = 'sorry') and to 'allowed' (column 1: 'here').

    p_style: (N, S) the model's P(style word s | context) (it need not sum to 1: renormalise).
    answer_after: (N, S, 2, 2) P(answer word | s, citation c), c in (forbidden, allowed),
        answer word in (here, sorry).
    """''',
    reference=follow_probs,
    cases=_follow_cases,
    mistakes=[
        Mistake(
            "crossed",
            "You read the wrong answer for each citation: after 'forbidden' the answer that follows is "
            "'sorry' (index 1), after 'allowed' it is 'here' (index 0).",
            lambda p, a: follow_probs(p, np.asarray(a)[..., ::-1]),
        ),
        Mistake(
            "not_renormalised",
            "P(s) over the style words does not sum to 1 (the model puts some mass elsewhere): divide by "
            "sum_s P(s), so that the rate is an average over the style words the model writes.",
            lambda p, a: follow_probs(p, a) * np.asarray(p).sum(1, keepdims=True),
        ),
        Mistake(
            "unweighted_styles",
            "Weight each style word by the model's own P(s): a style word it never writes should count for nothing.",
            lambda p, a: follow_probs(np.ones_like(np.asarray(p)), a),
        ),
    ],
)

EXERCISES: dict[str, Exercise] = {ex.id: ex for ex in (CONTEXT_DISTILLATION, PREDICTED_EXCEPTION, FOLLOW_RATE)}

check_context_distillation = exercise_checker(CONTEXT_DISTILLATION)
check_predicted_exception = exercise_checker(PREDICTED_EXCEPTION)
check_follow_probs = exercise_checker(FOLLOW_RATE)

CHECKERS = {
    "6.1": check_context_distillation,
    "6.2": check_predicted_exception,
    "6.3": check_follow_probs,
}
