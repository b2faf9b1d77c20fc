"""The ``dqt`` command.

``dqt demo``
    The offline main job. For now (until the study runner lands) it builds
    mixtures from the bundled sample data at several correct shares, writes
    them with their manifests, and prints the manifests.
``dqt mix POOL.jsonl``
    Mix a paired-example file at chosen shares and write the training files.
``dqt validate FILE.jsonl``
    Check an OpenAI chat fine-tuning file by OpenAI's rules and count its tokens.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__
from .errors import DataQualityThresholdsError
from .io import validate_chat_jsonl, write_mixtures
from .mixing import CorruptionMixer
from .pool import ExamplePool
from .records import Mixture
from .samples import SAMPLE_DOMAINS, load_sample_pool
from .tokens import count_chat_tokens, get_tokenizer

__all__ = ["main"]

DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def _fractions(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def _corruption(text: str) -> str | dict[str, float]:
    if "=" not in text:
        return text
    out: dict[str, float] = {}
    for part in text.split(","):
        kind, _, share = part.partition("=")
        out[kind.strip()] = float(share)
    return out


def _tokens(m: Mixture) -> int:
    tok = get_tokenizer()
    return sum(count_chat_tokens(ex.messages, tok) for ex in m.iter_examples())


def _summarise(
    domain: str, mixtures: Sequence[Mixture], paths: Sequence[tuple[Path, Path]]
) -> None:
    for m, (jsonl, _) in zip(mixtures, paths, strict=True):
        c = m.counts
        print(
            f"  {domain:8s} {m.spec.corruption_label:8s} correct={m.spec.fraction_correct:4.2f} "
            f"rows={len(m):3d} (correct {c['correct']:3d}, obvious {c['obvious']:3d}, "
            f"subtle {c['subtle']:3d}) "
            f"tokens={_tokens(m):6d} sha256={m.fingerprint[:12]}  {jsonl.name}"
        )


def _demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    print(f"dataquality_thresholds {__version__}: offline demo on the bundled sample data")
    print(f"correct shares {args.fractions}, corruptions obvious and subtle, seed {args.seed}\n")
    first: Mixture | None = None
    for domain in SAMPLE_DOMAINS:
        pool = load_sample_pool(domain)
        size = min(args.size, len(pool))
        mixer = CorruptionMixer(pool, size=size, seed=args.seed)
        mixtures = [m for kind in ("obvious", "subtle") for m in mixer.sweep(args.fractions, kind)]
        paths = write_mixtures(mixtures, out / domain)
        _summarise(domain, mixtures, paths)
        first = first or mixtures[0]
    assert first is not None
    print("\nEvery mixture uses the same prompts; only the responses change. One manifest in full:")
    print(json.dumps(first.manifest, indent=2, sort_keys=True))
    print(f"\nTraining files and manifests are in {out}/<domain>/.")
    return 0


def _mix(args: argparse.Namespace) -> int:
    pool = ExamplePool.from_jsonl(args.pool)
    mixer = CorruptionMixer(pool, size=args.size or len(pool), seed=args.seed)
    mixtures = mixer.sweep(args.fractions, _corruption(args.corruption))
    paths = write_mixtures(mixtures, args.out)
    _summarise(Path(args.pool).stem, mixtures, paths)
    return 0


def _validate(args: argparse.Namespace) -> int:
    report = validate_chat_jsonl(args.file, min_examples=args.min_examples)
    print(
        f"{args.file}: OK, {report.n_examples} examples, {report.total_tokens} tokens "
        f"(longest {report.max_example_tokens}), sha256 {report.sha256}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``dqt`` command."""
    ap = argparse.ArgumentParser(prog="dqt", description="Data-quality thresholds for fine-tuning.")
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="offline demo on the bundled sample data")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--size", type=int, default=24, help="rows per mixture (default: 24)")
    demo.add_argument("--fractions", type=_fractions, default=list(DEFAULT_FRACTIONS))
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)

    mix = sub.add_parser("mix", help="mix a paired-example JSONL file at several correct shares")
    mix.add_argument("pool", help="paired-example JSONL file")
    mix.add_argument("--out", required=True, help="output folder")
    mix.add_argument(
        "--size", type=int, default=None, help="rows per mixture (default: the pool size)"
    )
    mix.add_argument("--fractions", type=_fractions, default=list(DEFAULT_FRACTIONS))
    mix.add_argument(
        "--corruption", default="obvious", help="obvious, subtle, or obvious=0.5,subtle=0.5"
    )
    mix.add_argument("--seed", type=int, default=0)
    mix.set_defaults(func=_mix)

    val = sub.add_parser("validate", help="check an OpenAI chat fine-tuning file")
    val.add_argument("file")
    val.add_argument("--min-examples", type=int, default=10)
    val.set_defaults(func=_validate)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dqt`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except DataQualityThresholdsError as exc:
        print(f"dqt: error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
