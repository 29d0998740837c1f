"""personalab: how language-model personas are made and aligned, as measured experiments.

The library behind the personalab book. Layers import only downward:
``world`` -> ``model`` -> ``train`` -> ``evals``.
"""

__version__ = "0.1.0"
