"""Numbers about the toy, inserted from the lab runs and the configuration: two roles.

Every number a chapter states about the toy is generated, never typed (DESIGN section 7).

``{toy}`` quotes a number that a lab measured: ``book/results.json``, written by
``make bench`` (``tools/bench.py``), holds every claim (``claim.<id>`` and
``claim.<id>.threshold``) and every number a lab recorded with
``personalab.results.record``. In MyST:

* ``{toy}`lab03_rlhf_sycophancy/claim.3a``` -- the value in the reference run (lab seed 0,
  shipped base), with 3 significant digits;
* ``{toy}`lab03_rlhf_sycophancy/claim.3a:.2f``` -- with a Python format spec (``.0%`` too);
* ``{toy}`lab03_rlhf_sycophancy/claim.3a:.2f:range``` -- "0.85–0.92": smallest and largest
  over the calibration seeds on the shipped base (one value if they agree when formatted);
* ``{toy}`lab03_rlhf_sycophancy/claim.3c@1:.2f``` -- the run with lab seed 1;
* ``{toy}`lab01_simulators/claim.2a:.2f:bases``` -- smallest and largest over the base
  models pre-trained with other seeds (``make bench --pretrain-seeds``; reference lab seed);
* ``{toy}`lab01_simulators/claim.2a:holding``` -- "3 of 5": on how many of those other
  bases the claim held (claims only);
* ``{toy}`lab03_rlhf_sycophancy/claim.4c:seeds``` -- "11 of 12": on how many of the
  calibration and validation runs on the shipped base the claim held (claims only).

``{param}`` quotes a setting of the toy, read from the library when the book is built:
``world.*`` is the default world's configuration (``PersonaWorld.default().config``, e.g.
``{param}`world.personas.villain.prior```), ``train.*`` the pre-training recipe
(``TrainConfig()``), ``base.*`` the shipped base checkpoint's metadata (e.g.
``{param}`base.metrics.gap:.4f```); ``ext.*``, ``base_ext.*`` and ``base_ext_shuffled.*`` are
the same for Part II's extended world and its two base checkpoints (e.g.
``{param}`base_ext.metrics.gap_by_kind.judge.gap:.4f```). The same ``:fmt`` suffix applies.

A key that no run recorded, or a path that does not exist, is an error, so ``-W`` fails
when a lab stops measuring what a chapter quotes; ``tests/test_book.py`` checks the same
without building.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx

_CACHE: dict[str, dict] = {}


def load(path: Path) -> dict:
    key = str(path)
    if key not in _CACHE:
        _CACHE[key] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"runs": []}
    return _CACHE[key]


def _format(values: list[float], fmt: str) -> str:
    lo, hi = format(min(values), fmt), format(max(values), fmt)
    if lo == hi:
        text = lo
    else:
        text = f"{lo} to {hi}" if min(values) < 0 else f"{lo}–{hi}"
    return text.replace("-", "−")  # a typographic minus, as in the rest of the book


def _split(text: str) -> tuple[str, str, list[str]]:
    target, *spec = text.strip().split(":")
    fmt = spec[0] if spec and spec[0] else ".3g"
    return target, fmt, spec[1:]


def lookup(results: dict, text: str) -> str:
    """Format the measured number named by ``text`` (``lab/key[@seed][:fmt[:range|bases|holding|seeds]]``).

    Raises KeyError (nothing recorded) or ValueError (a malformed reference)."""
    target, fmt, options = _split(text)
    if not options and fmt in ("range", "bases", "holding", "seeds"):  # an option without a format
        fmt, options = ".3g", [fmt]
    if options not in ([], ["range"], ["bases"], ["holding"], ["seeds"]):
        raise ValueError(
            f"unknown option {':'.join(options)!r} (the options are ':range', ':bases', ':holding', ':seeds')"
        )
    option = options[0] if options else None
    lab, _, key = target.partition("/")
    if not key:
        raise ValueError("name the lab and the key, e.g. lab01_simulators/claim.2a")
    key, _, seed_text = key.partition("@")
    seeds = results.get("seeds", {})
    ref = seeds.get("reference", 0)
    cal = set(seeds.get("calibration", [ref]))
    val = set(seeds.get("validation", []))
    if seed_text:
        if option:
            raise ValueError(f"a run with one seed (@seed) has no :{option}")
        ref = int(seed_text)
    runs = [r for r in results.get("runs", []) if r["lab"] == lab]
    if option in ("bases", "holding"):  # other pre-trained bases, each run with the reference seed
        pick = [r for r in runs if r.get("base_seed") is not None and r["seed"] == ref]
    else:
        shipped = [r for r in runs if r.get("base_seed") is None]
        if option == "seeds":
            pick = [r for r in shipped if r["seed"] in cal | val]
        else:
            pick = [r for r in shipped if (r["seed"] in cal if option == "range" else r["seed"] == ref)]
    if option in ("holding", "seeds"):
        if not key.startswith("claim.") or key.endswith(".threshold"):
            raise ValueError(f":{option} counts a claim's verdicts: name a claim (claim.<id>), not {key!r}")
        verdicts = [r["claims"][key[6:]]["ok"] == "✓" for r in pick if key[6:] in r.get("claims", {})]
        if not verdicts:
            if option == "holding":
                which, fix = "other base's run", "make bench --pretrain-seeds"
            else:
                which, fix = "calibration or validation run", "make bench"
            raise KeyError(f"no {which} of {lab!r} checked {key!r}: run `{fix}`")
        return f"{sum(verdicts)} of {len(verdicts)}"
    values = [r["values"][key] for r in pick if r.get("values", {}).get(key) is not None]
    if not values:
        which = {"range": "calibration runs", "bases": "runs on other bases"}.get(option, f"the run with seed {ref}")
        raise KeyError(
            f"no {which} of {lab!r} recorded {key!r}: add record({key!r}, ...) to the lab and run `make bench`"
        )
    return _format(values, fmt)


def settings() -> dict:
    """The toy's settings that ``{param}`` can quote (imports the library)."""
    from personalab.train.base import BASE_PATH, default_train_config
    from personalab.train.checkpoint import read_meta
    from personalab.train.extended_base import EXTENDED_BASE_PATH, EXTENDED_SHUFFLED_BASE_PATH
    from personalab.world import PersonaWorld
    from personalab.world.extended import extended_world

    return {
        "world": PersonaWorld.default().config.to_dict(),
        "ext": extended_world().config.to_dict(),
        "train": default_train_config().to_dict(),
        "base": read_meta(BASE_PATH),
        "base_ext": read_meta(EXTENDED_BASE_PATH),
        "base_ext_shuffled": read_meta(EXTENDED_SHUFFLED_BASE_PATH),
    }


def lookup_param(tree: dict, text: str) -> str:
    """Format the setting at the dotted path in ``text`` (``path[:fmt]``)."""
    target, fmt, options = _split(text)
    if options:
        raise ValueError("{param} takes only a format, e.g. world.personas.villain.prior:.2f")
    node = tree
    for part in target.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"no setting {target!r} (no {part!r} there)")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise ValueError(f"setting {target!r} is not a number")
    return _format([node], fmt if ":" in text or isinstance(node, float) else "d")


def _role(resolve):
    def role(name, rawtext, text, lineno, inliner, options=None, content=None):
        try:
            value = resolve(inliner.document.settings.env, text)
        except (KeyError, ValueError) as exc:
            msg = inliner.reporter.error(f"{{{name}}}`{text}`: {exc}", line=lineno)
            return [inliner.problematic(rawtext, rawtext, msg)], [msg]
        return [nodes.inline(rawtext, value, classes=[f"{name}-number"])], []

    return role


def _toy(env, text):
    return lookup(load(Path(env.srcdir) / env.config.toynumbers_results), text)


_SETTINGS: dict = {}


def _param(env, text):
    if not _SETTINGS:
        _SETTINGS.update(settings())
    return lookup_param(_SETTINGS, text)


def setup(app: Sphinx) -> dict:
    app.add_config_value("toynumbers_results", "results.json", "env")
    app.add_role("toy", _role(_toy))
    app.add_role("param", _role(_param))
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
