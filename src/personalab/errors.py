"""The error family of personalab: every error the library raises on purpose.

Book: Preface (section *The command line*).

Each error is a :class:`PersonaLabError` *and* the builtin a caller would have caught
before (``ValueError`` for bad values, ``KeyError`` for unknown names), so existing
``except ValueError`` code keeps working while ``except PersonaLabError`` catches every
deliberate error and nothing else. The command line maps the family to exit code 2 and
lets any other exception (a bug) surface with its traceback.
"""

from __future__ import annotations


class PersonaLabError(Exception):
    """Base class of the errors personalab raises deliberately; the message says what to do."""


class WorldConfigError(PersonaLabError, ValueError):
    """An invalid PersonaWorld configuration. The message names the field (a dotted path)
    and the fix."""


class OffWorldError(PersonaLabError, ValueError):
    """A token sequence that this world cannot produce (probability zero), or token ids that
    are not token ids."""


class CheckpointError(PersonaLabError, ValueError):
    """A checkpoint that cannot be used; the message says why and what to do."""


class UnknownNameError(PersonaLabError, KeyError):
    """An unknown persona, trait, turn kind or word. ``str(exc)`` is the plain message (a
    bare ``KeyError`` would print it in quotes)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(PersonaLabError, ValueError):
    """An argument combination that cannot work (e.g. training for zero steps)."""
