"""PersonaWorld: a synthetic world of personas with exact inference (book: Chapter 1, Appendix A)."""

from ..errors import OffWorldError, WorldConfigError
from .config import GRAMMAR_VERSION, WorldConfig, default_config, world_hash
from .grammar import Grammar, Turn
from .inference import Trace
from .kinds import KINDS, Content, KindOptions, Trait, TurnKind, register_kind
from .schema import json_schema
from .vocab import BOS, EOS, PAD, Vocab
from .world import Corpus, PersonaWorld, Scores

__all__ = [
    "BOS",
    "EOS",
    "GRAMMAR_VERSION",
    "KINDS",
    "PAD",
    "Content",
    "Corpus",
    "Grammar",
    "KindOptions",
    "OffWorldError",
    "PersonaWorld",
    "Scores",
    "Trace",
    "Trait",
    "Turn",
    "TurnKind",
    "Vocab",
    "WorldConfig",
    "WorldConfigError",
    "default_config",
    "json_schema",
    "register_kind",
    "world_hash",
]
