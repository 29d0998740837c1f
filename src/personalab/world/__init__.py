"""PersonaWorld: a synthetic world of personas with exact inference (book: Chapter 1, Appendix A)."""

from .config import GRAMMAR_VERSION, WorldConfig, WorldConfigError, default_config, world_hash
from .grammar import Grammar, Turn
from .inference import OffWorldError, Trace
from .kinds import KINDS, Content, Trait, TurnKind, register_kind
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
    "register_kind",
    "world_hash",
]
