"""The claim helper prints a parseable line and reports whether the claim holds."""

import math

import pytest

from personalab.claims import CLAIM_LINE, claim


def test_claim_holds_and_prints_a_parseable_line(capsys):
    assert claim("1a", "gap to the Bayes limit", 0.0019, at_most=0.005) is True
    line = capsys.readouterr().out.strip()
    m = CLAIM_LINE.match(line)
    assert m and m["id"] == "1a" and m["ok"] == "✓" and m["op"] == "≤" and float(m["value"]) == 0.0019


def test_claim_fails_below_its_threshold(capsys):
    assert claim("2", "captured", 0.5, at_least=0.75) is False
    assert "✗" in capsys.readouterr().out


def test_nan_never_holds(capsys):
    assert claim("3", "x", math.nan, at_least=0.0) is False
    assert CLAIM_LINE.match(capsys.readouterr().out.strip())


def test_exactly_one_threshold_is_required():
    with pytest.raises(ValueError, match="exactly one"):
        claim("4", "x", 1.0)
    with pytest.raises(ValueError, match="exactly one"):
        claim("4", "x", 1.0, at_least=0, at_most=2)


def test_status_table_escapes_pipes_in_claim_texts():
    """A claim about |α| must not split its cell of the status page's Markdown table."""
    from dataclasses import asdict

    from bench import LabRun, status_markdown

    claim_line = dict(text="off-world mass for |α| ≤ 2", value="0.0060", op="≤", threshold="0.01", ok="✓")
    run = LabRun("lab99_demo", 0, 1.0, True, claims={"4c": claim_line})
    page = status_markdown({"runs": [asdict(run)]})
    row = next(line for line in page.splitlines() if line.startswith("| 4c:"))
    assert row == "| 4c: off-world mass for \\|α\\| ≤ 2 | ≤ 0.01 | 0.0060 ✓ | 0.006 (1/1 ✓) | — | — |"
    assert row.replace("\\|", "").count("|") == 7


def test_a_verification_says_so_and_still_parses(capsys):
    """A wide-margin check of the code is labelled, so the book does not count it as a finding."""
    assert claim("3b", "probe accuracy on the embedding layer", 0.22, at_most=0.27, verification=True)
    m = CLAIM_LINE.match(capsys.readouterr().out.strip())
    assert m and m["text"] == "verification: probe accuracy on the embedding layer"


def test_the_labs_label_their_wide_margin_checks_as_verifications():
    """Issue 13 item 10: these assertions cannot realistically fail and are not findings."""
    import re
    from pathlib import Path

    labs = Path(__file__).resolve().parents[1] / "labs_py"
    expected = {
        "lab01_simulators": {"3b", "4a", "4b"},
        "lab03_rlhf_sycophancy": {"1b", "1c"},
        "lab04_dpo": {"1a", "1b", "2c"},
    }
    for lab, ids in expected.items():
        text = (labs / f"{lab}.py").read_text()
        calls = re.findall(r'claim\(\s*"(\w+)",(.*?)\n    \)', text, flags=re.S)
        labelled = {cid for cid, body in calls if "verification=True" in body}
        assert labelled == ids, f"{lab}: verifications {sorted(labelled)}, expected {sorted(ids)}"


def test_a_shipped_base_finding_says_so_and_still_parses(capsys):
    """A finding that other pre-training seeds failed is labelled as the shipped base's."""
    assert claim("5c", "hull distance after the flagged fine-tune", 0.05, at_most=0.1, shipped_base=True)
    m = CLAIM_LINE.match(capsys.readouterr().out.strip())
    assert m and m["text"] == "shipped base: hull distance after the flagged fine-tune"
    with pytest.raises(ValueError, match="not both"):
        claim("5c", "x", 0.05, at_most=0.1, shipped_base=True, verification=True)
