"""Paper-style tables: our mean ± sd over seeds beside the published number and the difference.

Rows are our (model, method) pairs, labelled with the paper row they stand in for; columns are
the paper table's metrics for the dataset, in the paper's units and precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from harness import paper
from harness.errors import ConfigError, DataError
from harness.io import atomic_write_text

# Printed column -> our scorer's metric key, in the paper table's column order. A key "LABEL@split" reads the
# paper's LABEL column of that split (WebNLG prints S/U/A columns of one metric side by side).
COLUMNS = {
    "e2e": {"BLEU": "BLEU", "NIST": "NIST", "MET": "METEOR", "R-L": "ROUGE_L", "CIDEr": "CIDEr"},
    "webnlg": {
        f"{label}@test-{split}": f"{metric}_{split}"
        for label, metric in (("BLEU", "BLEU"), ("MET", "METEOR"), ("TER", "TER"))
        for split in ("seen", "unseen", "all")
    },
    "dart": {
        "BLEU": "BLEU",
        "MET": "METEOR",
        "TER": "TER",
        "Mover": "MoverScore",
        "BERT": "BERTScore",
        "BLEURT": "BLEURT",
    },
}
DATASET_NAMES = {"e2e": "E2E", "webnlg": "WebNLG 2017", "dart": "DART"}
SPLIT_MARKS = {"test-seen": "S", "test-unseen": "U", "test-all": "A"}


def _paper_column(key: str) -> tuple[str, str | None]:
    """("BLEU", "test-seen") for "BLEU@test-seen"; ("BLEU", None) for a dataset with one split."""
    label, _, split = key.partition("@")
    return label, split or None


@dataclass
class Column:
    label: str  # as printed in the paper
    metric: str  # our scorer's key
    scale: float  # ours x scale = paper's unit
    decimals: int  # the paper's precision
    key: str = ""  # COLUMNS key: the paper's metric label, "@split" where the table shows several splits


@dataclass
class Row:
    model: str
    method: str
    paper_model: str | None
    paper_method: str | None
    n: int
    ours: list[tuple[float, float]]  # (mean, sample sd) per column, paper units; nan if missing
    published: list[str | None]  # printed paper value per column


@dataclass
class Table:
    dataset: str
    split: str
    columns: list[Column]
    rows: list[Row]
    caption: str


def build_tables(config: dict, summary: pd.DataFrame, published: pd.DataFrame) -> list[Table]:
    """One table per (dataset, split) in `summary` (long form, see harness.scoring.SUMMARY_COLUMNS)."""
    tables = []
    for (dataset, split), ours in summary.groupby(["dataset", "split"], sort=False):
        if dataset not in COLUMNS:
            raise ConfigError(f"no table layout for dataset {dataset!r}; add its columns to harness.tables.COLUMNS.")
        printed = published[published["dataset"] == dataset]
        columns = _columns(dataset, printed)
        rows = [
            _row(config, model, method, group, columns, printed)
            for (model, method), group in ours.groupby(["model", "method"], sort=False)
        ]
        tables.append(Table(dataset, split, columns, rows, _caption(config, dataset, split, rows, printed)))
    return tables


def _columns(dataset: str, published: pd.DataFrame) -> list[Column]:
    columns = []
    for key, metric in COLUMNS[dataset].items():
        printed = _printed(published, key)
        if printed.empty:
            raise DataError(f"the paper CSV has no {dataset} column {key!r}; check results/paper/.")
        units = set(printed["unit"])
        if len(units) != 1:
            raise DataError(f"{dataset} column {key!r} has several units {sorted(units)} in results/paper/.")
        label, split = _paper_column(key)
        shown = f"{label} {SPLIT_MARKS.get(split, split)}" if split else label
        columns.append(
            Column(shown, metric, paper.UNIT_SCALE[units.pop()], max(map(paper.decimals, printed["value"])), key)
        )
    return columns


def _printed(published: pd.DataFrame, key: str) -> pd.DataFrame:
    label, split = _paper_column(key)
    rows = published[published["metric"] == label]
    return rows[rows["split"] == split] if split else rows


def _row(
    config: dict, model: str, method: str, group: pd.DataFrame, columns: list[Column], published: pd.DataFrame
) -> Row:
    if model not in config["models"] or method not in config["methods"]:
        raise DataError(
            f"the summary has scores of {model}/{method}, which the config does not define; "
            "re-run `python -m harness aggregate` with this config."
        )
    paper_model = config["models"][model].get("paper_model")
    paper_method = _paper_method(config["methods"][method].get("paper_method"), paper_model)
    match = published[(published["model"] == paper_model) & (published["method"] == paper_method)]
    ours, printed = [], []
    for column in columns:
        values = group.loc[group["metric"] == column.metric, "value"].astype(float) * column.scale
        # Sample sd (ddof=1): seeds are a sample of the training randomness; nan for one seed.
        ours.append((values.mean(), values.std(ddof=1)) if len(values) else (math.nan, math.nan))
        cell = _printed(match, column.key or column.label)["value"]
        printed.append(cell.iloc[0] if len(cell) else None)
    return Row(model, method, paper_model, paper_method, int(group["seed"].nunique()), ours, printed)


def _paper_method(label: str | dict | None, paper_model: str | None) -> str | None:
    if isinstance(label, dict):
        return label.get(paper_model) if paper_model else None
    return label


def _caption(config: dict, dataset: str, split: str, rows: list[Row], published: pd.DataFrame) -> str:
    table_cfg = config["table"]
    where = published["table"].iloc[0] if len(published) else "?"
    stand_ins = sorted({f"{r.model} stands in for {r.paper_model}" for r in rows if r.paper_model})
    return (
        f"{DATASET_NAMES.get(dataset, dataset)} ({split}): ours vs. {table_cfg['paper']}, "
        f"{paper.VERSION_NAMES[table_cfg['version']]} version, {where}. "
        "Ours: mean ± sample sd over n seeds, in the paper's units; Δ = ours − paper. "
        + ("; ".join(stand_ins) + "." if stand_ins else "No backbone is mapped to a paper model.")
    )


# --- rendering --------------------------------------------------------------------------


def _fmt(x: float, decimals: int, signed: bool = False) -> str:
    return f"{x:+.{decimals}f}" if signed else f"{x:.{decimals}f}"


def _cells(row: Row, column: Column, i: int) -> tuple[str, str, str]:
    mean, sd = row.ours[i]
    printed = row.published[i]
    ours = "–" if math.isnan(mean) else _fmt(mean, column.decimals)
    if not math.isnan(sd):
        ours += f" ± {_fmt(sd, column.decimals)}"
    delta = "–" if printed is None or math.isnan(mean) else _fmt(mean - float(printed), column.decimals, True)
    return ours, printed or "–", delta


def _label(ours: str, paper_label: str | None) -> str:
    return f"{paper_label} ← {ours}" if paper_label else ours


def to_markdown(table: Table) -> str:
    headers = ["Model", "Method", "n"]
    for column in table.columns:
        headers += [column.label, f"{column.label} paper", f"{column.label} Δ"]
    body = []
    for row in table.rows:
        line = [_label(row.model, row.paper_model), _label(row.method, row.paper_method), str(row.n)]
        for i, column in enumerate(table.columns):
            line += _cells(row, column, i)
        body.append(line)
    grid = tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)
    return f"{table.caption}\n\n{grid}\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "←": r"$\leftarrow$",
    "Δ": r"$\Delta$",
    "−": r"$-$",
    "–": "--",
}


def _tex(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    n_metrics = len(table.columns)
    spec = "llr" + "rrr" * n_metrics
    groups = " & ".join(rf"\multicolumn{{3}}{{c}}{{{_tex(c.label)}}}" for c in table.columns)
    rules = " ".join(rf"\cmidrule(lr){{{4 + 3 * i}-{6 + 3 * i}}}" for i in range(n_metrics))
    sub = " & ".join(["ours & paper & $\\Delta$"] * n_metrics)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        rf"Model & Method & $n$ & {groups} \\",
        rules,
        rf" & & & {sub} \\",
        r"\midrule",
    ]
    for row in table.rows:
        cells = [_label(row.model, row.paper_model), _label(row.method, row.paper_method), str(row.n)]
        for i, column in enumerate(table.columns):
            cells += _cells(row, column, i)
        lines.append(" & ".join(_tex(c) for c in cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{_tex(table.caption)}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_tables(
    config: dict, summary_csv: Path, out_md: Path, out_tex: Path, paper_dir: Path = paper.PAPER_DIR
) -> list[Table]:
    """Render `summary_csv` as paper-style tables into `out_md` and `out_tex` (atomically)."""
    if not Path(summary_csv).is_file():
        raise DataError(f"{summary_csv} not found; write it with `python -m harness aggregate --out {summary_csv}`.")
    summary = pd.read_csv(summary_csv)
    if summary.empty:
        raise DataError(f"{summary_csv} has no scores; run `python -m harness aggregate` after scoring cells.")
    published = paper.paper_results(config["table"]["paper"], config["table"]["version"], paper_dir)
    tables = build_tables(config, summary, published)
    atomic_write_text(out_md, "\n".join(to_markdown(t) for t in tables))
    atomic_write_text(out_tex, "\n".join(to_latex(t) for t in tables))
    return tables
