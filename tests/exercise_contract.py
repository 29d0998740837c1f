"""The contract every chapter's exercise checkers must keep, shared by tests/test_exercises*.py.

``checker_contract(...)`` returns test functions; a test module adds them to its namespace
(``globals().update(...)``) so pytest collects them there, parametrised by that module's
exercises, known-wrong variants, unanticipated wrong answers and correct solutions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from personalab.exercises import CheckResult, Exercise, check
from personalab.exercises.core import NOT_IMPLEMENTED


def stub(*args):
    raise NotImplementedError("replace this stub with your solution")


def hint_of(ex: Exercise, name: str) -> str:
    return next(m.hint for m in ex.mistakes if m.name == name)


def checker_contract(
    exercises: dict[str, Exercise],
    known_mistakes: Sequence[tuple[str, Callable, str]],
    arbitrary_wrong: Sequence[tuple[str, Callable]],
    solutions: Sequence[tuple[str, Callable]],
    checkers: dict[str, Callable],
) -> dict[str, Callable]:
    """Tests: a stub is 'not implemented'; each known-wrong variant gets its hint and every
    declared mistake has one; an unanticipated wrong answer, or one that is NaN everywhere,
    gets the generic message; an
    independently written solution and the reference pass; a notebook checker prints one
    deterministic line when a solution passes."""
    first_solution = {}
    for ex_id, solution in solutions:
        first_solution.setdefault(ex_id, solution)

    @pytest.mark.parametrize("ex_id", sorted(exercises))
    def test_a_stub_is_reported_as_not_implemented(ex_id):
        result = check(exercises[ex_id], stub)
        assert not result.passed and result.mistake is None
        assert result.message == f"Exercise {ex_id}: {NOT_IMPLEMENTED}"
        assert "replace the `raise NotImplementedError`" in result.message

    @pytest.mark.parametrize(
        ("ex_id", "wrong", "mistake"), known_mistakes, ids=[f"{e}-{w.__name__}" for e, w, _ in known_mistakes]
    )
    def test_each_known_wrong_variant_gets_its_targeted_hint(ex_id, wrong, mistake):
        ex = exercises[ex_id]
        result = check(ex, wrong)
        assert not result.passed
        assert result.mistake == mistake
        assert hint_of(ex, mistake) in result.message

    def test_every_known_mistake_of_every_exercise_has_an_independent_variant_in_these_tests():
        covered = {(e, m) for e, _, m in known_mistakes}
        declared = {(ex.id, m.name) for ex in exercises.values() for m in ex.mistakes}
        assert covered == declared

    @pytest.mark.parametrize(("ex_id", "wrong"), arbitrary_wrong, ids=[w.__name__ for _, w in arbitrary_wrong])
    def test_an_unanticipated_wrong_answer_gets_the_generic_message_with_expected_and_got(ex_id, wrong):
        result = check(exercises[ex_id], wrong)
        assert not result.passed and result.mistake is None
        assert f"Exercise {ex_id}: wrong output on case 1 of" in result.message
        assert "expected:" in result.message and "got:" in result.message

    @pytest.mark.parametrize(("ex_id", "solution"), solutions, ids=[s.__name__ for _, s in solutions])
    def test_an_independently_written_correct_solution_passes(ex_id, solution):
        result = check(exercises[ex_id], solution)
        assert result == CheckResult(True, None, result.message)
        assert f"passed all {len(exercises[ex_id].cases())} cases" in result.message

    @pytest.mark.parametrize("ex_id", sorted(exercises))
    def test_a_function_that_is_nan_everywhere_gets_the_generic_message(ex_id):
        ex = exercises[ex_id]
        out = ex.run(ex.reference, ex.cases()[0])
        if isinstance(out, (list, str)) and np.asarray(out).dtype.kind not in "fiu":  # text: no NaN to find
            pytest.skip(f"exercise {ex_id} returns {type(out).__name__} of text, not numbers")
        result = check(ex, lambda *args: ex.reference(*args) * float("nan"))
        assert not result.passed and result.mistake is None
        assert "NaN or inf where the reference is finite" in result.message

    @pytest.mark.parametrize("ex_id", sorted(exercises))
    def test_the_reference_passes_its_own_cases(ex_id):
        assert check(exercises[ex_id], exercises[ex_id].reference).passed

    @pytest.mark.parametrize("ex_id", sorted(exercises))
    def test_each_exercise_has_at_least_three_mistakes_each_recognised_as_itself(ex_id):
        # checks the *design of the cases*: every mistake differs from the reference somewhere,
        # and no mistake listed earlier claims a later one
        ex = exercises[ex_id]
        assert len(ex.mistakes) >= 3
        assert [check(ex, m.impl).mistake for m in ex.mistakes] == [m.name for m in ex.mistakes]

    @pytest.mark.parametrize("ex_id", sorted(first_solution))
    def test_a_notebook_checker_prints_one_deterministic_line_on_success(capsys, ex_id):
        n = len(exercises[ex_id].cases())
        lines = []
        for _ in range(2):
            assert checkers[ex_id](first_solution[ex_id]) is None  # passing: no exception, nothing returned
            lines.append(capsys.readouterr().out)
        ex = exercises[ex_id]
        trained = f", and trains like the library's in {ex.trained_in}" if ex.trainer else ""
        expected = f"✓ Exercise {ex_id}: passed all {n} cases, including the numerical-stability case{trained}.\n"
        assert lines[0] == lines[1] == expected

    return {name: fn for name, fn in locals().items() if name.startswith("test_")}
