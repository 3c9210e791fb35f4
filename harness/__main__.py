"""`python -m harness <command>`: the steps the workflow runs, one cell or one file at a time.

Heavy modules (torch, the metric stack) are imported inside the commands that need them, so
`--help`, `cells` and the workflow's DAG stay fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import HarnessError


def _cells(args: argparse.Namespace) -> None:
    from harness.cells import cells_for
    from harness.config import load_config

    for cell in cells_for(load_config(args.config)):
        print(cell.id)


def _prepare(args: argparse.Namespace) -> None:
    from harness import data
    from harness.config import load_config
    from harness.errors import ConfigError

    config = load_config(args.config)
    if args.dataset not in config["datasets"]:
        raise ConfigError(f"dataset {args.dataset!r} is not in the config; it has {sorted(config['datasets'])}.")
    data_dir = Path(config["data_dir"]) if config["data_dir"] else None
    manifest = data.prepare(args.dataset, config["datasets"][args.dataset], data_dir, Path(args.out))
    print(json.dumps({"split": manifest.get("split"), "out": args.out}))


def _cell_and_dirs(args: argparse.Namespace):
    from harness.cells import cell_by_id, cell_dir, prepared_dir
    from harness.config import load_config

    config = load_config(args.config)
    cell = cell_by_id(config, args.cell)
    return config, cell, prepared_dir(config, cell.dataset, cell.split), cell_dir(config, cell)


def _train(args: argparse.Namespace) -> None:
    from harness.packs import pack_error, publish_trained
    from harness.train import train_cell

    config, cell, data_dir, cell_dir = _cell_and_dirs(args)
    summary = publish_trained(config, cell)  # a pack job trained it: move that result into place
    if summary is None:
        error = pack_error(config, cell.id)
        if error:
            print(f"its pack did not train {cell.id} (pack {error}); training it alone", file=sys.stderr)
        summary = train_cell(cell, data_dir, cell_dir)
    print(json.dumps(summary, default=str))


def _train_pack(args: argparse.Namespace) -> None:
    from harness.config import load_config
    from harness.packs import run_pack

    print(json.dumps(run_pack(load_config(args.config), args.pack, args.cells), indent=1))


def _generate(args: argparse.Namespace) -> None:
    from harness.generate import generate_cell
    from harness.packs import publish_generations

    config, cell, data_dir, cell_dir = _cell_and_dirs(args)
    # A packed cell was decoded by its pack job; otherwise (or if that file is gone) decode it here.
    print(publish_generations(config, cell) or generate_cell(cell, data_dir, cell_dir))


def _score(args: argparse.Namespace) -> None:
    from harness.scoring import score_cell

    config, cell, data_dir, cell_dir = _cell_and_dirs(args)
    record = score_cell(cell, data_dir, cell_dir, config["scoring"], config=config)
    print(json.dumps(record["scores"]))


def _aggregate(args: argparse.Namespace) -> None:
    import pandas as pd

    from harness.cells import cells_for
    from harness.config import load_config
    from harness.io import atomic_write_text
    from harness.scoring import SUMMARY_COLUMNS, summary_rows

    config = load_config(args.config)
    frame = pd.DataFrame(summary_rows(config, cells_for(config)), columns=SUMMARY_COLUMNS)
    atomic_write_text(args.out, frame.to_csv(index=False))


def _table(args: argparse.Namespace) -> None:
    from harness.config import load_config
    from harness.tables import write_tables

    write_tables(load_config(args.config), Path(args.summary), Path(args.out_md), Path(args.out_tex))
    print(Path(args.out_md).read_text(encoding="utf-8"))


def _datasets(args: argparse.Namespace) -> None:
    from harness import data

    for name, module in data.DATASETS.items():
        print(json.dumps({"name": name, **module.describe()}))


def _methods(args: argparse.Namespace) -> None:
    from harness.config import import_plugins, load_config
    from harness.methods import describe_methods

    if args.config:
        load_config(args.config)  # imports its plugins
    import_plugins(args.plugin, where="--plugin")
    for method in describe_methods():
        print(json.dumps(method, default=str))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, handler, help: str, *, config: bool = True, cell: bool = False):
        p = sub.add_parser(name, help=help, description=help)
        if config:
            p.add_argument("--config", required=True, help="config YAML (or the workflow's config.json)")
        if cell:
            p.add_argument("--cell", required=True, help="cell id, as printed by `cells`")
        p.set_defaults(handler=handler)
        return p

    command("cells", _cells, "print the id of every cell of the config")
    p = command("prepare", _prepare, "prepare one dataset's data variant into a folder")
    p.add_argument("--dataset", required=True, help="key in config.datasets")
    p.add_argument("--out", required=True, help="output folder; the workflow's is {results_dir}/data/{dataset}/{split}")
    command("train", _train, "train one cell (or publish what its pack trained)", cell=True)
    p = command("train-pack", _train_pack, "train and decode the cells of one pack together")
    p.add_argument("--pack", required=True, help="pack id (the workflow's packs/<id>.json)")
    p.add_argument("--cells", required=True, nargs="+", help="the member cell ids")
    command("generate", _generate, "decode the test inputs of one trained cell", cell=True)
    command("score", _score, "score one cell's generations; writes scores.json", cell=True)
    p = command("aggregate", _aggregate, "gather every cell's scores into one long-form CSV")
    p.add_argument("--out", required=True, help="CSV to write")
    p = command("table", _table, "render the paper-style table from the aggregated CSV")
    p.add_argument("--summary", required=True, help="CSV written by `aggregate`")
    p.add_argument("--out-md", required=True, help="Markdown file to write")
    p.add_argument("--out-tex", required=True, help="LaTeX file to write")
    command("datasets", _datasets, "list the datasets the harness can prepare", config=False)
    p = command("methods", _methods, "list the registered methods (with those of plugin modules)", config=False)
    p.add_argument("--config", help="also list the methods of this config's `plugins:` modules")
    p.add_argument(
        "--plugin", action="append", default=[], metavar="MODULE", help="also import this module (repeatable)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except HarnessError as err:
        # One line, so it is the last line of a failed job's log.
        print("error: " + " ".join(str(err).split()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
