"""Paper-style tables from a synthetic long-form summary: statistics, paper values, Δ, both versions."""

import shutil

import pandas as pd
import pytest

from harness import paper
from harness.errors import DataError
from harness.tables import build_tables, write_tables

SCORES = {  # our scorers' units: BLEU/METEOR/ROUGE_L fractions, NIST/CIDEr raw; two seeds each
    "finetune": {
        "BLEU": (0.70, 0.72),
        "NIST": (8.5, 8.7),
        "METEOR": (0.45, 0.47),
        "ROUGE_L": (0.70, 0.70),
        "CIDEr": (2.0, 2.2),
    },
    "prefix": {
        "BLEU": (0.60, 0.64),
        "NIST": (8.0, 8.0),
        "METEOR": (0.40, 0.40),
        "ROUGE_L": (0.65, 0.65),
        "CIDEr": (1.9, 1.9),
    },
    "mine": {"BLEU": (0.50,), "NIST": (7.0,), "METEOR": (0.30,), "ROUGE_L": (0.60,), "CIDEr": (1.5,)},
}


def config(version="acl", paper_model="GPT-2 M"):
    return {
        "models": {"smol": {"source": "tiny:gpt2", "paper_model": paper_model}},
        "methods": {
            "finetune": {"type": "finetune", "paper_method": "FT-FULL"},
            "prefix": {"type": "prefix", "paper_method": {"GPT-2 M": "PREFIX(0.1%)", "GPT-2 L": "PREFIX"}},
            "mine": {"type": "prefix"},  # no paper row
        },
        "table": {"paper": "li-liang-2021", "version": version},
    }


@pytest.fixture
def summary_csv(tmp_path):
    rows = [
        {
            "cell_id": f"e2e/s/smol/{method}-abcdef/seed{seed}",
            "dataset": "e2e",
            "split": "full-tr200-dv50-te50",
            "model": "smol",
            "method": method,
            "seed": seed,
            "metric": metric,
            "value": value,
        }
        for method, metrics in SCORES.items()
        for metric, values in metrics.items()
        for seed, value in enumerate(values, start=1)
    ]
    path = tmp_path / "summary.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def render(cfg, summary_csv, tmp_path, paper_dir=paper.PAPER_DIR):
    write_tables(cfg, summary_csv, tmp_path / "table.md", tmp_path / "table.tex", paper_dir)
    return (tmp_path / "table.md").read_text(), (tmp_path / "table.tex").read_text()


def md_rows(md):
    """Markdown table rows as lists of cells, keyed by the method label."""
    lines = [line for line in md.splitlines() if line.startswith("|")][2:]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return {row[1]: row for row in cells}


def test_statistics_in_paper_units(summary_csv):
    published = paper.paper_results("li-liang-2021", "acl")
    (table,) = build_tables(config(), pd.read_csv(summary_csv), published)
    assert [c.label for c in table.columns] == ["BLEU", "NIST", "MET", "R-L", "CIDEr"]
    assert [c.decimals for c in table.columns] == [1, 2, 1, 1, 2]
    finetune = table.rows[0]
    assert finetune.n == 2
    (bleu_mean, bleu_sd), (nist_mean, nist_sd) = finetune.ours[:2]
    assert bleu_mean == pytest.approx(71.0) and bleu_sd == pytest.approx(2**0.5)  # sample sd, x100
    assert nist_mean == pytest.approx(8.6) and nist_sd == pytest.approx(0.1 * 2**0.5)  # raw
    assert finetune.published == ["68.8", "8.71", "46.1", "71.1", "2.43"]


def test_markdown_acl(summary_csv, tmp_path):
    md, _ = render(config("acl"), summary_csv, tmp_path)
    rows = md_rows(md)
    ft = rows["FT-FULL ← finetune"]
    assert ft[0] == "GPT-2 M ← smol" and ft[2] == "2"
    assert ft[3:6] == ["71.0 ± 1.4", "68.8", "+2.2"]  # BLEU ours, paper, Δ
    assert ft[6:9] == ["8.60 ± 0.14", "8.71", "-0.11"]  # NIST
    assert ft[12:15] == ["70.0 ± 0.0", "71.1", "-1.1"]  # R-L
    assert rows["PREFIX(0.1%) ← prefix"][3:6] == ["62.0 ± 2.8", "70.3", "-8.3"]
    mine = rows["mine"]
    assert mine[2] == "1" and mine[3:6] == ["50.0", "–", "–"]  # one seed: no sd; no paper row
    assert "ACL 2021 version, Table 2" in md and "smol stands in for GPT-2 M" in md


def test_markdown_arxiv_v1(summary_csv, tmp_path):
    md, _ = render(config("arxiv-v1"), summary_csv, tmp_path)
    rows = md_rows(md)
    assert rows["FT-FULL ← finetune"][3:6] == ["71.0 ± 1.4", "68.2", "+2.8"]
    assert rows["PREFIX(0.1%) ← prefix"][3:6] == ["62.0 ± 2.8", "69.7", "-7.7"]
    assert "arXiv v1 version, Table 1" in md


def test_per_model_paper_method(summary_csv, tmp_path):
    md, _ = render(config("acl", paper_model="GPT-2 L"), summary_csv, tmp_path)
    rows = md_rows(md)
    assert rows["PREFIX ← prefix"][3:6] == ["62.0 ± 2.8", "70.3", "-8.3"]
    assert rows["FT-FULL ← finetune"][3:6] == ["71.0 ± 1.4", "68.5", "+2.5"]


def test_paper_values_come_from_the_csv(summary_csv, tmp_path):
    paper_dir = tmp_path / "paper"
    paper_dir.mkdir()
    shutil.copy(paper.PAPER_DIR / "li_liang_2021.csv", paper_dir)
    frame = pd.read_csv(paper_dir / "li_liang_2021.csv", dtype=str, keep_default_na=False)
    hit = (
        (frame["version"] == "acl")
        & (frame["dataset"] == "e2e")
        & (frame["model"] == "GPT-2 M")
        & (frame["method"] == "FT-FULL")
        & (frame["metric"] == "BLEU")
    )
    assert hit.sum() == 1
    frame.loc[hit, "value"] = "50.0"
    frame.to_csv(paper_dir / "li_liang_2021.csv", index=False)
    md, _ = render(config("acl"), summary_csv, tmp_path, paper_dir)
    assert md_rows(md)["FT-FULL ← finetune"][3:6] == ["71.0 ± 1.4", "50.0", "+21.0"]


def test_latex(summary_csv, tmp_path):
    _, tex = render(config("acl"), summary_csv, tmp_path)
    assert r"\begin{tabular}{ll" + "r" * 16 + "}" in tex
    assert r"\multicolumn{3}{c}{BLEU}" in tex
    assert r"PREFIX(0.1\%) $\leftarrow$ prefix" in tex  # % escaped
    assert r"71.0 $\pm$ 1.4 & 68.8 & +2.2" in tex
    assert r"\caption{" in tex and tex.count(r"\\") == 5  # header, sub-header, 3 rows


def test_paper_csv_is_complete_for_both_versions():
    for version in ("acl", "arxiv-v1"):
        e2e = paper.paper_results("li-liang-2021", version).query("dataset == 'e2e'")
        assert len(e2e) == 7 * 5  # 7 rows x 5 metrics
        assert e2e.groupby(["model", "method", "metric"]).size().max() == 1


def test_missing_summary_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="aggregate"):
        render(config(), tmp_path / "absent.csv", tmp_path)


def test_webnlg_table_has_seen_unseen_all_columns_of_each_metric(tmp_path):
    """WebNLG prints S/U/A side by side: each column reads its split of the paper CSV and its own score key."""
    scores = {
        "BLEU_seen": 0.60,
        "BLEU_unseen": 0.40,
        "BLEU_all": 0.50,
        "METEOR_seen": 0.44,
        "METEOR_unseen": 0.36,
        "METEOR_all": 0.40,
        "TER_seen": 0.35,
        "TER_unseen": 0.55,
        "TER_all": 0.45,
    }
    rows = [
        {
            "cell_id": f"webnlg/full/smol/finetune-abcdef/seed{seed}",
            "dataset": "webnlg",
            "split": "full",
            "model": "smol",
            "method": "finetune",
            "seed": seed,
            "metric": metric,
            "value": value,
        }
        for metric, value in scores.items()
        for seed in (1, 2)
    ]
    (table,) = build_tables(config(), pd.DataFrame(rows), paper.paper_results("li-liang-2021", "acl"))
    assert [c.label for c in table.columns] == [
        "BLEU S",
        "BLEU U",
        "BLEU A",
        "MET S",
        "MET U",
        "MET A",
        "TER S",
        "TER U",
        "TER A",
    ]
    finetune = table.rows[0]
    assert finetune.published == ["64.7", "26.7", "45.7", "0.46", "0.30", "0.38", "0.33", "0.78", "0.54"]
    assert [round(mean, 4) for mean, _ in finetune.ours] == [60.0, 40.0, 50.0, 0.44, 0.36, 0.40, 0.35, 0.55, 0.45]
