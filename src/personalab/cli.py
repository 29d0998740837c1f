"""The ``personalab`` command line.

Book: Preface (section *The command line*).

* ``personalab info`` -- versions, threads, the default and extended worlds and whether each
  shipped base checkpoint matches its world;
* ``personalab sample`` -- documents from the world or from a model, each with the exact
  posterior over personas;
* ``personalab pretrain`` -- regenerate the base checkpoint (progress bar; ``TQDM_DISABLE=1``
  silences it), the extended world's (``--world extended``), or train one for another world
  (``--world file.yaml --out name``);
* ``personalab student`` -- student versions of solution notebooks (solutions replaced by stubs);
* ``personalab world-schema`` -- the JSON Schema of world files, for editors.

Deliberate errors (the :class:`~personalab.errors.PersonaLabError` family: a bad world file,
a damaged checkpoint, an unknown persona, impossible options) print ``error: ...`` and exit
with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import warnings
from pathlib import Path

import numpy as np

from .errors import PersonaLabError, UsageError


def _fmt_posterior(personas, post) -> str:
    return "  ".join(f"{p} {v:.2f}" for p, v in zip(personas, post))


def _print_status(name: str, what: str, status: dict) -> None:
    print(f"{name} checkpoint: {status['path']}")
    if status["ok"]:
        m = status.get("metrics", {})
        print(
            f"  status: OK (matches {what})"
            + (f"; held-out gap to the Bayes limit {m['gap']:.4f} nats/token" if "gap" in m else "")
        )
    else:
        print(f"  status: NOT USABLE - {status['problem']}")


def cmd_info(args: argparse.Namespace) -> int:
    import torch

    from . import __version__
    from .train.base import base_status
    from .train.extended_base import extended_base_status, extended_base_world
    from .world import PersonaWorld

    world, ext = PersonaWorld.default(), extended_base_world()
    statuses = {"base": base_status(), "base_shuffled": base_status(shuffled=True)}
    ext_statuses = {
        "base_ext": extended_base_status(),
        "base_ext_shuffled": extended_base_status(shuffled=True),
    }
    print(f"personalab {__version__}")
    print(f"python {platform.python_version()}  torch {torch.__version__}  numpy {np.__version__}")
    print(f"torch threads {torch.get_num_threads()}  (labs use $PERSONALAB_THREADS, default 1)")
    for label, w in (("default world", world), ("extended world (Part II)", ext)):
        print(f"{label}: {w.config.name!r}  hash {w.hash}  vocab {len(w.vocab)} words  max length {w.max_len}")
        print("  personas: " + ", ".join(f"{p} ({q:.2f})" for p, q in zip(w.personas, w.prior)))
    for name, status in statuses.items():
        _print_status(name, "the default world" if name == "base" else "the shuffled control world", status)
    for name, status in ext_statuses.items():
        what = "the extended world" if name == "base_ext" else "the extended world's shuffled control"
        _print_status(name, what, status)
    statuses |= ext_statuses
    if args.json:
        print(json.dumps(statuses, indent=2))
    return 0 if all(s["ok"] for s in statuses.values()) else 1


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from .world import OffWorldError

    world = _world(args)
    scoring_world = world if world.config.coupling == "persona" else None
    if args.model is None:
        corpus = world.sample(args.n, seed=args.seed, persona=args.persona)
        docs = corpus.docs()
        truth = [", ".join(world.personas[i] for i in row) for row in corpus.latents]
    else:
        if args.persona:
            print("error: --persona applies to sampling from the world, not from a model", file=sys.stderr)
            return 2
        from .train.base import base_world, load_base
        from .train.checkpoint import load_checkpoint

        if args.model == "base" and args.world == "extended":
            from .train.extended_base import load_extended_base

            model, _ = load_extended_base(world, shuffled=args.shuffled)
        elif args.model == "base":
            if args.world and world.hash != base_world(args.shuffled).hash:
                raise UsageError(
                    f"the shipped base checkpoint was trained on the default world, not on {args.world}. "
                    f"Train one for this world: `personalab pretrain --world {args.world}"
                    f"{' --shuffled' if args.shuffled else ''} --out my_base`, then sample it with `--model my_base`."
                )
            model, _ = load_base(world, shuffled=args.shuffled)
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model, _ = load_checkpoint(args.model, world)
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)
        gen = torch.Generator().manual_seed(args.seed)
        start = torch.full((args.n, 1), world.vocab.bos_id, dtype=torch.long)
        out = model.generate(start, world.max_len - 1, generator=gen, stop_token=world.vocab.eos_id)
        docs = []
        for row in out.numpy():
            ends = np.flatnonzero(row == world.vocab.eos_id)
            docs.append(row[: ends[0] + 1] if len(ends) else row)
        truth = [f"model {args.model}"] * len(docs)
    for i, doc in enumerate(docs):
        print(f"[{i}] ({truth[i]}) {world.vocab.decode(doc)}")
        if scoring_world is None:
            sc = world.score([doc]).final_posterior()[0]
            for name, post in zip(world.latent_names, sc):
                print(f"    posterior of the {name} source: {_fmt_posterior(world.personas, post)}")
            continue
        try:
            post = world.posterior(doc)[-1]
            print(f"    exact posterior: {_fmt_posterior(world.personas, post)}")
        except OffWorldError as exc:
            print(f"    off-world: {exc}")
    return 0


def _world(args: argparse.Namespace):
    from .world import PersonaWorld

    if args.world == "extended":  # Part II's world (importing the package registers its kinds)
        from .world.extended import extended_world

        world = extended_world()
    elif args.world:
        from .world.extended import register_extended_kinds

        register_extended_kinds()  # a world file may use Part II's kinds
        world = PersonaWorld.from_yaml(args.world)
    else:
        world = PersonaWorld.default()
    return world.shuffled() if args.shuffled else world


def _at_least(value: int | None, low: int, flag: str) -> None:
    if value is not None and value < low:
        raise UsageError(f"{flag} must be at least {low}, got {value}")


def cmd_pretrain(args: argparse.Namespace) -> int:
    import dataclasses

    from .pretraining import pretrain, pretrain_base, pretrain_extended_base
    from .train.base import base_path, default_train_config
    from .train.checkpoint import save_checkpoint
    from .train.extended_base import extended_base_path, extended_train_config

    _at_least(args.steps, 1, "--steps")
    _at_least(args.docs, 1, "--docs")
    _at_least(args.threads, 1, "--threads")
    overrides = {k: v for k, v in (("steps", args.steps), ("n_train_docs", args.docs)) if v is not None}
    shipped_ext = args.world == "extended" and not overrides
    if (overrides or (args.world and not shipped_ext)) and not args.out:
        raise UsageError(
            "--steps/--docs/--world FILE make a non-standard model; give --out so the shipped bases stay intact"
        )
    if shipped_ext:  # the extended world's base (or control) by the shipped recipe, with its gap per kind
        out = extended_base_path(args.out, args.shuffled)
        which = "shuffled control of the extended" if args.shuffled else "extended"
        print(f"pre-training on the {which} world (seed {args.seed}, {args.threads} threads) ...")
        metrics = pretrain_extended_base(out, shuffled=args.shuffled, seed=args.seed, threads=args.threads)
        print(
            "gap to the Bayes limit per turn kind (nats/token): "
            + ", ".join(f"{k} {g['gap']:.4f}" for k, g in metrics["gap_by_kind"].items())
        )
    elif args.world:
        out = base_path(args.out, args.shuffled)
        world = _world(args)
        print(f"pre-training on the world of {args.world} (seed {args.seed}, {args.threads} threads) ...")
        recipe = extended_train_config if args.world == "extended" else default_train_config
        train_cfg = dataclasses.replace(recipe(args.seed), **overrides)
        model, metrics = pretrain(world, train_cfg=train_cfg, threads=args.threads)
        source = "the extended world" if args.world == "extended" else Path(args.world).name
        note = f"personalab model pre-trained on {source}"
        save_checkpoint(out, model, world, train=train_cfg.to_dict(), metrics=metrics, note=note)
    else:
        out = base_path(args.out, args.shuffled)
        which = "shuffled control" if args.shuffled else "default"
        print(f"pre-training on the {which} world (seed {args.seed}, {args.threads} threads) ...")
        metrics = pretrain_base(out, shuffled=args.shuffled, seed=args.seed, threads=args.threads, **overrides)
    print(f"wrote {out.with_suffix('.safetensors')} and {out.with_suffix('.json')}")
    print(
        f"held-out loss {metrics['model_loss']:.4f}  Bayes limit {metrics['bayes_loss']:.4f}  "
        f"gap {metrics['gap']:.4f} nats/token  (persona-blind {metrics['blind_loss']:.4f})"
    )
    print(f"training took {metrics['train_seconds']:.0f} s ({metrics['total_seconds']:.0f} s in all)")
    return 0


def cmd_student(args: argparse.Namespace) -> int:
    try:
        import nbformat

        from .student import count_stubs, make_student
    except ImportError:
        print("error: `personalab student` needs nbformat: pip install 'personalab[notebooks]'", file=sys.stderr)
        return 2
    sources: list[Path] = []
    for src in map(Path, args.sources):
        if src.is_dir():
            sources += sorted(src.glob("*.ipynb"))
        elif src.suffix == ".ipynb" and src.is_file():
            sources.append(src)
        else:
            print(f"error: {src} is neither a notebook (.ipynb) nor a folder", file=sys.stderr)
            return 2
    if not sources:
        print("error: no notebooks found in " + " ".join(args.sources), file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    targets = [out_dir / src.name for src in sources]
    if len(set(targets)) < len(targets):
        print("error: two notebooks have the same name; convert them with separate -o folders", file=sys.stderr)
        return 2
    converted = []
    for src, dst in zip(sources, targets):
        if dst.resolve() == src.resolve():
            print(f"error: {dst} would overwrite the solution notebook; choose another -o", file=sys.stderr)
            return 2
        nb = nbformat.read(src, as_version=4)
        try:
            converted.append((nb, make_student(nb)))
        except ValueError as exc:  # a marker error: write nothing rather than a partial set
            print(f"error: {src}: {exc}", file=sys.stderr)
            return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    for dst, (nb, student) in zip(targets, converted):
        nbformat.write(student, dst)
        removed = len(nb.cells) - len(student.cells)
        stubs = count_stubs(student)
        print(
            f"wrote {dst} ({stubs} solution{'s' * (stubs != 1)} replaced by stubs, "
            f"{removed} solution-only cell{'s' * (removed != 1)} removed)"
        )
    return 0


def cmd_world_schema(args: argparse.Namespace) -> int:
    from .world.schema import json_schema_text

    text = json_schema_text()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="personalab", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="versions, threads, world and base-checkpoint status")
    info.add_argument("--json", action="store_true", help="also print the checkpoint status as JSON")
    info.set_defaults(func=cmd_info)

    s = sub.add_parser("sample", help="sample documents with their exact persona posterior")
    s.add_argument("-n", type=int, default=5, help="number of documents (default 5)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--persona", help="fix the writing persona (world samples only)")
    s.add_argument(
        "--model", help="'base' (with --world extended: the extended base) or a checkpoint path: sample from a model"
    )
    s.add_argument(
        "--world", help="a world YAML file, or 'extended' for Part II's world (default: the shipped default world)"
    )
    s.add_argument("--shuffled", action="store_true", help="use the shuffled-traits control world")
    s.set_defaults(func=cmd_sample)

    t = sub.add_parser("pretrain", help="regenerate the base checkpoint")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    t.add_argument("--out", help="output path without extension (default: the shipped base checkpoint)")
    t.add_argument("--shuffled", action="store_true", help="the shuffled-world control checkpoint (base_shuffled)")
    t.add_argument("--steps", type=int, help="training steps (experiments only; needs --out)")
    t.add_argument("--docs", type=int, help="number of training documents (experiments only; needs --out)")
    t.add_argument(
        "--world",
        help="pre-train on the world of this YAML file (needs --out), or 'extended': the extended world's base",
    )
    t.set_defaults(func=cmd_pretrain)

    ws = sub.add_parser("world-schema", help="print the JSON Schema of world files (for editors)")
    ws.add_argument("-o", "--out", help="write it to this file instead")
    ws.set_defaults(func=cmd_world_schema)

    st = sub.add_parser("student", help="write student versions of solution notebooks (solutions -> stubs)")
    st.add_argument("sources", nargs="+", metavar="SOURCE", help="solution notebooks (.ipynb) or folders of them")
    st.add_argument("-o", "--out", default="student", help="output folder (default: student/)")
    st.set_defaults(func=cmd_student)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _at_least(getattr(args, "n", None), 1, "-n")
        return args.func(args)
    except PersonaLabError as exc:  # deliberate errors; any other exception is a bug: keep its traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
