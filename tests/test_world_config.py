"""A world configuration is validated, and every refusal names the field and the fix."""

from __future__ import annotations

import copy

import pytest

from personalab.world import PersonaWorld, WorldConfig, WorldConfigError, default_config, world_hash


@pytest.fixture
def raw() -> dict:
    return copy.deepcopy(default_config().to_dict())


def build(data: dict) -> PersonaWorld:
    return PersonaWorld(WorldConfig.from_dict(data))


def test_default_world_is_valid_and_round_trips_through_yaml(tmp_path):
    cfg = default_config()
    path = tmp_path / "w.yaml"
    cfg.to_yaml(path)
    again = WorldConfig.from_yaml(path)
    assert again == cfg
    assert world_hash(again) == world_hash(cfg)


def test_hash_changes_when_any_number_changes(raw):
    before = world_hash(WorldConfig.from_dict(raw))
    raw["personas"]["villain"]["traits"]["harm"] = {"comply": 0.8, "refuse": 0.2}
    assert world_hash(WorldConfig.from_dict(raw)) != before


def test_trait_probabilities_must_sum_to_one(raw):
    raw["personas"]["villain"]["traits"]["harm"] = {"comply": 0.8, "refuse": 0.1}
    with pytest.raises(WorldConfigError, match=r"personas\.villain\.traits\.harm.*sum to 0\.9.*Fix"):
        build(raw)


def test_priors_must_sum_to_one(raw):
    raw["personas"]["helper"]["prior"] = 0.5
    with pytest.raises(WorldConfigError, match=r"persona priors.*sum to"):
        build(raw)


def test_negative_probability_is_refused(raw):
    raw["personas"]["helper"]["traits"]["honesty"] = {"correct": 1.1, "wrong": -0.1}
    with pytest.raises(WorldConfigError, match=r"honesty.*not a probability"):
        build(raw)


def test_unknown_trait_is_refused_with_the_known_ones(raw):
    raw["personas"]["helper"]["traits"]["honsty"] = {"correct": 1.0, "wrong": 0.0}
    with pytest.raises(WorldConfigError, match=r"personas\.helper\.traits\.honsty: unknown trait.*honesty"):
        build(raw)


def test_missing_trait_is_refused_with_its_outcomes(raw):
    del raw["personas"]["pedant"]["traits"]["sycophancy"]
    with pytest.raises(WorldConfigError, match=r"personas\.pedant\.traits\.sycophancy is missing.*agree"):
        build(raw)


def test_wrong_outcome_names_are_refused(raw):
    raw["personas"]["helper"]["traits"]["harm"] = {"yes": 0.1, "no": 0.9}
    with pytest.raises(WorldConfigError, match=r"expected exactly \['comply', 'refuse'\]"):
        build(raw)


def test_unknown_turn_kind_is_refused(raw):
    raw["kinds"]["riddle"] = {"weight": 0.0}
    with pytest.raises(WorldConfigError, match=r"kinds\.riddle: unknown turn kind.*question"):
        build(raw)


def test_unknown_kind_option_is_refused(raw):
    raw["kinds"]["belief"]["p_user_right"] = 0.5
    with pytest.raises(WorldConfigError, match=r"kinds\.belief\.p_user_right: unknown key.*p_user_correct"):
        build(raw)


def test_empty_style_word_is_refused(raw):
    raw["style_words"] = ["sure", ""]
    with pytest.raises(WorldConfigError, match=r"style_words\.1 = '': must be one word without spaces"):
        build(raw)


def test_style_word_clashing_with_grammar_is_refused(raw):
    raw["style_words"] = [*raw["style_words"][:-1], "help"]
    for p in raw["personas"].values():
        style = p["traits"]["style"]
        style["help"] = style.pop("honestly")
    with pytest.raises(WorldConfigError, match=r"style word\(s\) \['help'\] are also grammar words"):
        build(raw)


def test_typo_in_top_level_key_is_refused(raw):
    raw["persona"] = raw.pop("personas")
    with pytest.raises(WorldConfigError, match=r"persona: unknown key.*personas"):
        WorldConfig.from_dict(raw)


def test_unknown_coupling_is_refused(raw):
    raw["coupling"] = "mixed"
    with pytest.raises(WorldConfigError, match=r"coupling = 'mixed': .*'persona' or 'shuffled'"):
        build(raw)


def test_malformed_request_entry_is_refused(raw):
    raw["kinds"]["request"]["benign"] = ["make a cake"]
    with pytest.raises(WorldConfigError, match=r"kinds\.request\.benign\.0 = 'make a cake': must be two words"):
        build(raw)


def test_non_mapping_file_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(WorldConfigError, match="expected a mapping at the top level"):
        WorldConfig.from_yaml(path)


def test_invalid_yaml_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(WorldConfigError, match="not valid YAML"):
        WorldConfig.from_yaml(path)


def test_unknown_persona_lookup_lists_the_personas():
    world = PersonaWorld.default()
    with pytest.raises(KeyError, match=r"unknown persona 'saint'.*helper"):
        world.sample(1, persona="saint")


def test_a_new_persona_plugs_in_through_config_alone(raw):
    # Rescale priors and add a new persona: no code change needed.
    for p in raw["personas"].values():
        p["prior"] *= 0.9
    raw["personas"]["saint"] = copy.deepcopy(raw["personas"]["helper"])
    raw["personas"]["saint"]["prior"] = 0.1
    world = build(raw)
    assert world.personas[-1] == "saint"
    corpus = world.sample(20, seed=0, persona="saint")
    assert (corpus.personas == len(world.personas) - 1).all()
