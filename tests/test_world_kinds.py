"""Turn kinds: the yes/no facts of the default world, the arithmetic kinds, and new kinds
plugging in without edits to old ones."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from personalab.world import PersonaWorld, TurnKind, WorldConfig, WorldConfigError, default_config, register_kind
from personalab.world.kinds import Trait


def arithmetic_world() -> PersonaWorld:
    raw = copy.deepcopy(default_config().to_dict())
    request = raw["kinds"]["request"]
    raw["kinds"] = {
        "sum": {"weight": round(0.75 - request["weight"], 10)},  # the weights must sum to 1
        "sum_belief": {"weight": 0.25, "p_user_correct": 0.5},
        "request": request,
    }
    raw["max_operand"] = 3
    for p in raw["personas"].values():
        syc = p["traits"]["sycophancy"]
        p["traits"]["sum_sycophancy"] = {"agree": syc["agree"], "correct": syc["correct"], "other": syc["wrong"]}
    return PersonaWorld(WorldConfig.from_dict(raw))


def test_fact_question_answers_follow_the_truth_table():
    world = PersonaWorld.default()
    helper = world.persona_index("helper")
    p_correct = world.trait_table("honesty")["helper"]["correct"]
    for text, want in [("user : is fire hot ? assistant :", "yes"), ("user : is ice hot ? assistant :", "no")]:
        tr = world.trace(world.encode(text + " sure"))
        dist = tr.next_dist
        assert dist.trait == "honesty"
        assert dist.probs[helper, world.vocab.id(want)] == pytest.approx(p_correct)


def test_belief_statement_is_right_with_probability_p_user_correct():
    world = PersonaWorld.default()
    p = world.config.kinds["belief"]["p_user_correct"]
    # fire is hot: the user is right iff they do not say "not"
    dist = world.trace(world.encode("user : i think fire is")).next_dist
    assert dist.probs[world.vocab.id("not")] == pytest.approx(1 - p)
    dist = world.trace(world.encode("user : i think ice is")).next_dist
    assert dist.probs[world.vocab.id("not")] == pytest.approx(p)


def test_belief_turn_records_truth_and_belief():
    world = PersonaWorld.default()
    turns = world.turns("user : i think ice is hot . is it ? assistant : well yes . <eos>")
    (turn,) = turns
    assert turn.kind == "belief" and turn.info == ("ice", False, True) and turn.outcome == "agree"


def test_facts_must_have_unique_subjects():
    raw = copy.deepcopy(default_config().to_dict())
    raw["facts"]["false_facts"].append("fire cold")
    with pytest.raises(WorldConfigError, match=r"facts: the subject 'fire' is used twice"):
        PersonaWorld(WorldConfig.from_dict(raw))


def test_yaml_booleans_as_fact_keys_get_a_clear_error():
    raw = copy.deepcopy(default_config().to_dict())
    raw["facts"] = {True: ["fire hot"], False: ["ice hot"]}  # what `true:` means in YAML
    with pytest.raises(WorldConfigError, match=r"facts\.true_facts is missing"):
        PersonaWorld(WorldConfig.from_dict(raw))


def test_arithmetic_kinds_are_exact_too():
    world = arithmetic_world()
    corpus = world.sample(500, seed=0)
    scores = world.score(corpus)
    np.testing.assert_allclose(scores.posterior.sum(-1), 1.0, atol=1e-12)
    assert scores.bayes_loss < scores.blind_loss
    doc = world.encode("user : i think 1 + 2 is 5 . what is it ? assistant : ok 5 . <eos>")
    (turn,) = world.turns(doc)
    assert turn.kind == "sum_belief" and turn.outcome == "agree"
    assert world.trace("user : what is 3 + 3 ? assistant : ok 6 . <eos>").state.phase == "done"


def test_a_new_turn_kind_plugs_in_with_a_default_trait():
    """A kind registered outside the library, with a trait that old personas do not list:
    they fall back to the trait's default, and nothing else needs editing."""

    GREETING = Trait("warmth", ("warm", "cold"), "Reply to a greeting.", default={"warm": 0.5, "cold": 0.5})

    @register_kind
    class Greeting(TurnKind):
        name = "greeting_test"
        opener = "hello"
        traits = (GREETING,)

        def words(self):
            return ["hello", "!", "hi", "what"]

        def max_tokens(self):
            return 1 + 2

        def user(self):
            yield self.g.det("!")
            return ()

        def content(self, info):
            from personalab.world import Content

            M = np.zeros((2, len(self.g.vocab)))
            M[0, self.g.vocab.id("hi")] = 1
            M[1, self.g.vocab.id("what")] = 1
            out = {self.g.vocab.id("hi"): "warm", self.g.vocab.id("what"): "cold"}
            return Content("warmth", self.g.persona_dist("warmth", M), out)

        def tail(self, info, token):
            return ("!",)

        def prompts(self):
            return [("hello !", ())]

    raw = copy.deepcopy(default_config().to_dict())
    raw["kinds"]["request"]["weight"] = round(raw["kinds"]["request"]["weight"] - 0.1, 10)
    raw["kinds"]["greeting_test"] = {"weight": 0.1}
    raw["personas"]["villain"]["traits"]["warmth"] = {"warm": 0.1, "cold": 0.9}  # one persona overrides
    world = PersonaWorld(WorldConfig.from_dict(raw))
    doc = world.encode("user : hello ! assistant : look what ! <eos>")
    post = world.posterior(doc)[-1]
    assert post[world.persona_index("villain")] > world.prior[world.persona_index("villain")]
    assert world.trait_table("warmth")["helper"] == {"warm": 0.5, "cold": 0.5}


@pytest.mark.parametrize("make_world", [PersonaWorld.default, arithmetic_world], ids=["default", "arithmetic"])
def test_every_kind_renders_turns_that_parse_back_to_their_situation_and_outcome(make_world):
    """render_turn is the inverse of parsing: kind, info and outcome survive the round trip."""
    world = make_world()
    style = world.config.style_words[0]
    for name, kind in world.grammar.kinds.items():
        for _, info in kind.prompts()[:40]:
            for outcome in sorted(set(kind.content(info).outcome_of.values())):
                (turn,) = world.turns(kind.render_turn(info, outcome, style) + " <eos>")
                assert (turn.kind, turn.info, turn.outcome) == (name, info, outcome)


def test_rendering_an_impossible_outcome_or_style_is_a_clear_error():
    world = PersonaWorld.default()
    belief = world.grammar.kinds["belief"]
    with pytest.raises(KeyError, match=r"cannot have the outcome 'agree'; its outcomes are \['correct', 'wrong'\]"):
        belief.render_reply(("fire", True, True), "agree", "sure")  # a right belief cannot be agreed with wrongly
    with pytest.raises(KeyError, match="'maybe' is not a style word"):
        belief.render_reply(("fire", True, False), "agree", "maybe")


def test_question_and_mistake_are_one_data_driven_kind():
    from personalab.world.kinds import AskedFact, Mistake, Question

    assert issubclass(Question, AskedFact) and issubclass(Mistake, AskedFact)
    for cls in (Question, Mistake):  # only data, no methods of their own
        assert not [k for k, v in vars(cls).items() if callable(v) and not k.startswith("__")]
