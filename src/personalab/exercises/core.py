"""Exercise checkers: run a learner's function, name the likely mistake, else compare with the reference.

Book: Preface (section *A classroom path*, "Self-checking exercises") and the exercise cells of
every lab, starting with Chapter 1, Lab 1. In the spirit of ARENA's checkers, a checker

1. runs the learner's function on every case (copies of the inputs, so a function that edits
   its arguments in place cannot corrupt the reference);
2. looks for the **known mistakes** first: the learner "made" mistake m if its outputs agree
   with m's outputs on every case where m differs from the reference; the hint then says
   what to fix ("did you forget to normalise?");
3. only then compares with the reference and shows the first failing case;
4. where the exercise names a trainer (Lab 4's losses: ``dpo_train``), runs the learner's
   function inside it for a few steps beside the reference, so the function the lab checks
   is one the library can actually train with.

The last case of every exercise is a numerical-stability case (log-probabilities around
-1000, logits x 100): a formula that is right on paper but exponentiates too early fails it.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NOT_IMPLEMENTED = "not implemented yet — replace the `raise NotImplementedError` with your code"


@dataclass
class Mistake:
    """A known wrong answer: ``impl`` implements it (to recognise it), ``hint`` says how to fix it."""

    name: str
    hint: str
    impl: Callable[..., Any]


@dataclass
class CheckResult:
    """The verdict on one learner function. ``error`` is the exception it raised, if any."""

    passed: bool
    mistake: str | None
    message: str
    error: BaseException | None = field(default=None, repr=False, compare=False)


def _as_array(x: Any) -> np.ndarray:
    if x is None or isinstance(x, str):
        raise TypeError("not a number")
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def allclose(out: Any, expected: Any, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """True if ``out`` has the shape of ``expected`` and is close to it element by element.

    Dicts, tuples and lists are compared entry by entry. Where ``expected`` is finite ``out``
    must be finite; infinities must agree in sign and NaN matches NaN.
    """
    if isinstance(expected, dict):
        return (
            isinstance(out, dict)
            and out.keys() == expected.keys()
            and all(allclose(out[k], v, rtol, atol) for k, v in expected.items())
        )
    if isinstance(expected, (tuple, list)):
        return (
            isinstance(out, (tuple, list))
            and len(out) == len(expected)
            and all(allclose(o, e, rtol, atol) for o, e in zip(out, expected))
        )
    try:
        a, b = _as_array(out), _as_array(expected)
    except (TypeError, ValueError, RuntimeError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def _finite(x: Any) -> bool:
    """True if every number in ``x`` (an array, a tensor, or a dict/tuple of them) is finite."""
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    if isinstance(x, (tuple, list)):
        return all(_finite(v) for v in x)
    try:
        return bool(np.isfinite(_as_array(x)).all())
    except (TypeError, ValueError, RuntimeError):
        return True  # not numeric at all: "wrong", but not "non-finite"


def _show(x: Any) -> str:
    """A short, deterministic rendering of an input or output for a failure message."""
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in x.items()) + "}"
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # a NamedTuple: its repr is readable
        return repr(x)
    if isinstance(x, (tuple, list)):
        return "(" + ", ".join(_show(v) for v in x) + ")"
    a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    if x is None or a.dtype.kind not in "biuf":
        return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(x))[:200]  # no memory addresses
    if a.ndim == 0:
        return f"{a.item():.6g}" if a.dtype.kind == "f" else str(a.item())
    if a.ndim >= 2 and a.size:  # a matrix would swamp the message: summarise it
        return f"array of shape {a.shape}, min {a.min():.4g}, max {a.max():.4g}"
    return f"{np.array2string(a, precision=4, threshold=12, edgeitems=3, max_line_width=100)} (shape {a.shape})"


@dataclass
class Exercise:
    """One exercise: what the learner writes, the reference, the test cases and the known mistakes.

    ``cases()`` returns a list of argument tuples; the **last** one is the extreme-value /
    numerical-stability case. ``runner(fn, case)``, if given, replaces the default
    ``fn(*deepcopy(case))`` (for exercises that need fresh objects per call, such as an
    optimiser). ``compare(out, expected)`` decides whether two outputs agree.
    ``trainer(fn)``, if given, runs a function that passed every case inside the library's
    real trainer (``trained_in`` names it) and returns None if it trains like the reference,
    else what went wrong: right numbers are not enough if the gradient cannot flow.
    """

    id: str
    title: str
    difficulty: int  # 1-3 stars
    minutes: int  # time estimate
    signature: str
    reference: Callable[..., Any]
    cases: Callable[[], list[tuple]]
    mistakes: list[Mistake] = field(default_factory=list)
    compare: Callable[[Any, Any], bool] = allclose
    runner: Callable[[Callable[..., Any], tuple], Any] | None = None
    trainer: Callable[[Callable[..., Any]], str | None] | None = None
    trained_in: str = ""

    def __post_init__(self) -> None:
        if self.difficulty not in (1, 2, 3):
            raise ValueError(f"difficulty is 1-3 stars, got {self.difficulty}")

    def run(self, fn: Callable[..., Any], case: tuple) -> Any:
        """Call ``fn`` on one case, on copies of its inputs."""
        with np.errstate(all="ignore"):  # a naive formula's warnings are the checker's business
            return self.runner(fn, case) if self.runner else fn(*copy.deepcopy(case))

    def card(self) -> str:
        """The header a lab prints above the exercise: id, stars, time and the signature."""
        stars = "★" * self.difficulty + "☆" * (3 - self.difficulty)
        return f"Exercise {self.id} {stars} (~{self.minutes} min): {self.title}\n\n{self.signature}"

    def case_label(self, i: int, n: int) -> str:
        return f"case {i + 1} of {n}" + (" (the numerical-stability case)" if i == n - 1 else "")

    def show_case(self, case: tuple) -> str:
        if self.runner is None:  # name each argument after the reference's parameters
            names = list(inspect.signature(self.reference).parameters)
            return ", ".join(f"{k}={_show(v)}" for k, v in zip(names, case))
        return _show(case)


def _matches(ex: Exercise, got: list, theirs: list, expected: list) -> bool:
    """Did the learner make this mistake? Compare only where the mistake differs from the reference.

    Where the mistake's output is finite it must be matched exactly (up to ``compare``). If the
    mistake differs *only* by producing NaN/inf (a pure numerical mistake), any non-finite
    output of the learner there matches (NaN or inf depends on how the naive formula is
    written), provided the learner's output is finite on the other cases wherever the
    reference's is: a function that is NaN everywhere has a bigger problem than underflow.
    """
    differs = [i for i in range(len(expected)) if not ex.compare(theirs[i], expected[i])]
    finite = [i for i in differs if _finite(theirs[i])]
    if finite:
        return all(ex.compare(got[i], theirs[i]) for i in finite)
    others = [i for i in range(len(expected)) if i not in differs]
    return (
        bool(differs)
        and all(not _finite(got[i]) for i in differs)
        and all(_finite(got[i]) or not _finite(expected[i]) for i in others)
    )


def check(exercise: Exercise, fn: Callable[..., Any]) -> CheckResult:
    """Check a learner's function: not implemented? crashed? a known mistake? wrong? else passed."""
    ex, cases = exercise, exercise.cases()
    n = len(cases)
    got = []
    for i, case in enumerate(cases):
        try:
            got.append(ex.run(fn, case))
        except NotImplementedError as exc:
            return CheckResult(False, None, f"Exercise {ex.id}: {NOT_IMPLEMENTED}", exc)
        except Exception as exc:  # the learner's bug, reported with the case that triggered it
            msg = f"Exercise {ex.id}: your function raised {type(exc).__name__}: {exc} on {ex.case_label(i, n)}"
            return CheckResult(False, None, f"{msg}\n  inputs: {ex.show_case(case)}", exc)
    expected = [ex.run(ex.reference, c) for c in cases]
    for m in ex.mistakes:
        if _matches(ex, got, [ex.run(m.impl, c) for c in cases], expected):
            return CheckResult(False, m.name, f"Exercise {ex.id}: {m.hint}")
    for i, case in enumerate(cases):
        if not ex.compare(got[i], expected[i]):
            lines = [
                f"Exercise {ex.id}: wrong output on {ex.case_label(i, n)}.",
                f"  inputs:   {ex.show_case(case)}",
                f"  expected: {_show(expected[i])}",
                f"  got:      {_show(got[i])}",
            ]
            if _finite(expected[i]) and not _finite(got[i]):
                lines.append("  Your output has NaN or inf where the reference is finite: look for exp() or log(0).")
            return CheckResult(False, None, "\n".join(lines))
    passed = f"Exercise {ex.id}: passed all {n} cases, including the numerical-stability case"
    if ex.trainer is None:
        return CheckResult(True, None, passed + ".")
    problem = ex.trainer(fn)
    if problem:
        return CheckResult(False, "in_trainer", f"Exercise {ex.id}: {problem}")
    return CheckResult(True, None, f"{passed}, and trains like the library's in {ex.trained_in}.")


_SHAPE_ERROR = re.compile(r"broadcast|shape|dimension|aligned|size of tensor", re.IGNORECASE)


@dataclass
class ShapeHintExercise(Exercise):
    """An exercise whose commonest slip crashes: a shape-mismatch error gets ``shape_hint`` appended.

    :func:`check` reports a crash with the learner's exception before
    it looks for known mistakes. Averaging over the wrong axis cannot produce a number when the
    cases' sets have different numbers of rows, so that mistake's hint rides on the exception.
    """

    shape_hint: str = ""

    def run(self, fn: Callable[..., Any], case: tuple) -> Any:
        try:
            return super().run(fn, case)
        except (ValueError, RuntimeError) as exc:  # numpy's and torch's shape errors
            if self.shape_hint and not isinstance(exc, NotImplementedError) and _SHAPE_ERROR.search(str(exc)):
                exc.args = (f"{str(exc).rstrip()} [hint: {self.shape_hint}]",)
            raise


def exercise_checker(exercise: Exercise) -> Callable[[Callable[..., Any]], None]:
    """A notebook-friendly checker: prints one ✓/✗ line and raises ``AssertionError`` on failure.

    Raising makes a cell with a wrong solution fail visibly (and fail nbval in CI); the
    printed line is deterministic, so stored outputs of a passing cell never drift. It
    returns nothing, so a cell ending with the call shows only that line; use
    :func:`check` to get the :class:`CheckResult`.
    """

    def checker(fn: Callable[..., Any]) -> None:
        result = check(exercise, fn)
        print(("✓ " if result.passed else "✗ ") + result.message.splitlines()[0])
        if not result.passed:
            raise AssertionError(result.message) from result.error

    checker.__name__ = checker.__qualname__ = f"check_{exercise.title}"
    checker.__doc__ = f"Check your solution of exercise {exercise.id}.\n\n{exercise.card()}"
    return checker
