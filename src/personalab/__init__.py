"""personalab: how language-model personas are made and aligned, as measured experiments.

The library behind the personalab book. Layers, lowest first; a module imports only from
the lines above its own (``tests/test_layers.py`` reads this picture and enforces it)::

    errors  numerics  progress  runtime  results
    world
    model  datasets  oracle
    train
    evals
    align  interp
    widgets  exercises  claims  student
    pretraining
    cli  tools

``errors`` holds the error family (:class:`~personalab.errors.PersonaLabError`); ``numerics``
the shared log-sum-exp, sigmoid and KL; ``world`` the exact PersonaWorld;
``model`` the tiny GPT; ``train`` the loops and checkpoints; ``evals`` exact measurements;
``align`` and ``interp`` the methods of Chapters 2-4; ``widgets`` and ``exercises`` the labs'
tools; ``pretraining`` trains *and measures* a base model, so it sits above ``evals``.
"""

__version__ = "0.1.0"
