"""Recorded numbers: what the chapters quote, written only when the bench asks for them."""

from __future__ import annotations

import json
import math

import pytest

from personalab.claims import claim
from personalab.results import RESULTS_ENV, record


def test_record_is_a_no_op_outside_the_bench(monkeypatch, tmp_path):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    assert record("a.b", 0.5) == 0.5
    assert list(tmp_path.iterdir()) == []


def test_record_writes_every_value_to_the_named_file(monkeypatch, tmp_path):
    out = tmp_path / "results.json"
    monkeypatch.setenv(RESULTS_ENV, str(out))
    record("rlhf.rise", 0.25)
    record("rlhf.kl", math.nan)
    assert json.loads(out.read_text()) == {"rlhf.rise": 0.25, "rlhf.kl": None}


def test_claims_are_recorded_under_their_id(monkeypatch, tmp_path, capsys):
    out = tmp_path / "results.json"
    monkeypatch.setenv(RESULTS_ENV, str(out))
    assert claim("3A", "a rise", 0.3, at_least=0.2)
    assert json.loads(out.read_text()) == {"claim.3a": 0.3, "claim.3a.threshold": 0.2}


@pytest.mark.parametrize("key", ["Rise", "a..b", "a b", "", "a-b"])
def test_a_malformed_key_is_refused_with_the_rule(key):
    with pytest.raises(ValueError, match="dotted lower-case"):
        record(key, 1.0)


def test_a_non_number_is_refused_by_name():
    with pytest.raises(TypeError, match="needs a number, got str"):
        record("a.b", "0.5")
