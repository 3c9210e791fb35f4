"""``python -m metrics SUITE ...``: score files with a benchmark's official protocol, print JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .suites import SUITES, load_suite


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m metrics", description=__doc__)
    commands = parser.add_subparsers(dest="suite", required=True, metavar="SUITE")
    for name in SUITES:
        suite = load_suite(name)
        command = commands.add_parser(name, help=(suite.__doc__ or name).strip().splitlines()[0])
        suite.add_arguments(command)
        if getattr(suite, "USES_MODELS", False):
            add_model_arguments(command)
        command.add_argument("--out", type=Path, help="also write the JSON to this file (atomically)")
    return parser


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the neural metrics (a suite with ``USES_MODELS = True`` gets them)."""
    group = parser.add_argument_group("neural metrics (default: each metric's official model, from the hub)")
    group.add_argument("--model", metavar="DIR_OR_NAME",
                       help="encoder for BERTScore and MoverScore: a hub name or a local model directory")
    group.add_argument("--num-layers", type=int, metavar="N",
                       help="BERTScore layer; required for a model bert-score has no default for")
    group.add_argument("--batch-size", type=int, metavar="N", help="sentences per forward pass")
    group.add_argument("--bleurt-checkpoint", metavar="DIR_OR_NAME",
                       help="BLEURT checkpoint in the bleurt-pytorch layout (BLEURT is skipped without one)")


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the complete new one, never a partial write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                     suffix=".tmp", delete=False) as tmp:
        tmp.write(text)
        tmp.flush()
        os.fsync(tmp.fileno())
    try:
        os.replace(tmp.name, path)
    except OSError:
        os.unlink(tmp.name)
        raise


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = load_suite(args.suite).run(args)
        text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
        if args.out is not None:
            write_atomic(args.out, text)
    except Exception as err:  # noqa: BLE001 -- the CLI contract: one line on stderr, exit 2
        if os.environ.get("METRICS_DEBUG"):
            raise
        kind = "" if isinstance(err, (ValueError, OSError)) else f"{type(err).__name__}: "
        message = " ".join(str(err).split())
        print(f"python -m metrics {args.suite}: error: {kind}{message}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
