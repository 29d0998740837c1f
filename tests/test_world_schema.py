"""One validated config schema (issue 12, item 3): every bad input gets a clear message
naming the field by its dotted path; tables are exactly normalised; the JSON Schema for
editors is current."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from personalab.world import PersonaWorld, WorldConfig, WorldConfigError, default_config
from personalab.world.schema import SCHEMA_PATH, json_schema, json_schema_text
from personalab.world.validation import normalised


@pytest.fixture
def raw():
    return copy.deepcopy(default_config().to_dict())


def build(raw) -> PersonaWorld:
    return PersonaWorld(WorldConfig.from_dict(raw))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.__setitem__("max_operand", "five"), r"^world config: max_operand = 'five': .*valid integer"),
        (lambda r: r.__setitem__("max_operand", 50), r"max_operand = 50: .*less than or equal to 20"),
        (lambda r: r.__setitem__("extra", 5), r"^world config: extra = 5: .*valid dictionary"),
        (lambda r: r["facts"].__setitem__("false_facts", "fire"), r"facts\.false_facts = 'fire': .*valid list"),
        (
            lambda r: r["facts"]["true_facts"].__setitem__(0, "fire not"),
            r"facts\.true_facts entry 'fire not' uses the word 'not', a grammar word of 'belief' and 'request'.*Fix",
        ),
        (lambda r: r["kinds"]["belief"].__setitem__("p_user_correct", True), r"kinds\.belief\.p_user_correct = True"),
        (lambda r: r["kinds"]["belief"].__setitem__("p_user_correct", 1.5), r"p_user_correct = 1\.5: is not a probab"),
        (
            lambda r: r["kinds"]["request"].__setitem__("colour", "red"),
            r"kinds\.request\.colour: unknown key.*p_harmful",
        ),
        (lambda r: r["kinds"]["request"].__setitem__("harmful", ["make cake"]), r"kinds\.request: 'make cake' .*twice"),
        (
            lambda r: r["personas"]["helper"].__setitem__("prior", "0.22"),
            r"personas\.helper\.prior = '0\.22': .*number",
        ),
        (lambda r: r["personas"]["helper"].__setitem__("age", 3), r"personas\.helper\.age: unknown key.*'prior'"),
        (lambda r: r.__setitem__("turns", {1: 0.5, "two": 0.5}), r"turns\.two = 'two': .*valid integer"),
        (lambda r: r.__setitem__("turns", {0: 1.0}), r"turns\.0 = 0: .*greater than or equal to 1"),
        (lambda r: r.__setitem__("kinds", {}), r"'kinds' is empty"),
        (lambda r: r["kinds"].__setitem__("sum_belief", {"weight": 0.0}), r"share the opener word 'i'"),
        (lambda r: r["personas"]["helper"].__setitem__("prior", 0.3), r"persona priors.*sum to 1\.08"),
        (lambda r: r["kinds"]["question"].pop("weight"), r"kinds\.question\.weight is missing"),
        (lambda r: r.__setitem__("style_words", ["sure", "sure"]), r"style_words: contains duplicates"),
        (lambda r: r.__setitem__("name", ""), r"name = '': .*at least 1 character"),
    ],
)
def test_a_bad_input_gets_a_clear_message_with_its_dotted_path(raw, change, message):
    change(raw)
    with pytest.raises(WorldConfigError, match=message):
        build(raw)


def test_several_errors_are_reported_together(raw):
    raw["max_operand"] = "five"
    raw["extra"] = 5
    with pytest.raises(WorldConfigError) as info:
        build(raw)
    assert "max_operand = 'five'" in str(info.value) and "extra = 5" in str(info.value)


def test_priors_off_by_5e_7_are_renormalised_exactly_and_sampling_works(raw):
    raw["personas"]["helper"]["prior"] += 5e-7
    world = build(raw)
    assert math.fsum(world.prior) == 1.0
    assert world.sample(50, seed=0).tokens.shape[0] == 50


def test_trait_rows_off_by_9e_7_are_renormalised_exactly(raw):
    raw["personas"]["helper"]["traits"]["honesty"] = {"correct": 0.95 + 9e-7, "wrong": 0.05}
    world = build(raw)
    row = world.grammar.trait_tables["honesty"][world.persona_index("helper")]
    assert math.fsum(row) == 1.0
    assert row[0] == pytest.approx((0.95 + 9e-7) / (1 + 9e-7), rel=1e-15)
    scores = world.score(world.sample(30, seed=0))
    np.testing.assert_allclose(scores.posterior.sum(-1), 1.0, atol=1e-12)


def test_a_table_off_by_more_than_the_tolerance_is_refused(raw):
    raw["personas"]["helper"]["traits"]["honesty"] = {"correct": 0.95 + 2e-6, "wrong": 0.05}
    with pytest.raises(WorldConfigError, match=r"personas\.helper\.traits\.honesty: probabilities sum to 1\.000002"):
        build(raw)


def test_an_exactly_normalised_table_is_left_bit_for_bit_unchanged():
    # 0.22 + 0.18 + ... sums to 1.0000000000000002 in naive float addition but exactly to 1
    # when correctly rounded: the default world is left as written.
    table = {p.name: p.prior for p in default_config().personas}
    assert sum(table.values()) != 1.0 and math.fsum(table.values()) == 1.0
    assert normalised(table, "priors") == table


@pytest.mark.parametrize("scale", [1 + 3e-7, 1 - 7e-7, 1 + 1e-9])
def test_normalised_tables_sum_to_exactly_one(scale):
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.dirichlet(np.ones(int(rng.integers(2, 9)))) * scale
        out = normalised(dict(enumerate(p.tolist())), "t")
        assert math.fsum(out.values()) == 1.0


def test_the_default_world_round_trips_through_the_schema():
    cfg = default_config()
    assert WorldConfig.from_dict(cfg.to_dict()) == cfg
    assert WorldConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # JSON: string turn keys


def test_the_committed_json_schema_is_current():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == json_schema_text(), (
        "personalab/data/world.schema.json is stale: run "
        "`personalab world-schema -o src/personalab/data/world.schema.json`"
    )


def test_the_json_schema_describes_every_kind_and_forbids_extras():
    schema = json_schema()
    assert schema["additionalProperties"] is False
    kinds = schema["$defs"]["Kinds"]["properties"]
    assert {"question", "belief", "mistake", "request", "sum", "sum_belief"} <= set(kinds)
