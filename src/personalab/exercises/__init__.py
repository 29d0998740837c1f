"""Exercise checkers: they take a learner's function and name the likely mistake.

Book: Preface (section *A classroom path*); each lab's exercise cells. The framework is in
:mod:`personalab.exercises.core`; the exercises of Chapter 1, Lab 1 are in
:mod:`personalab.exercises.ch01`.
"""

from .core import CheckResult, Exercise, Mistake, allclose, check, exercise_checker

__all__ = ["CheckResult", "Exercise", "Mistake", "allclose", "check", "exercise_checker"]
