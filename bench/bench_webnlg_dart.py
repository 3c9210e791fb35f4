"""Wall time of the WebNLG 2017 and DART suites on real outputs, against baselines timed in the same run.

    python bench/bench_webnlg_dart.py [--data-dir DIR] [--team GKB_Unimelb] [--sample N] [--fresh-cache]

Ours: ``score_webnlg`` (1,862 outputs, all / seen / unseen from one run) and ``score_dart`` (5,097
outputs), each metric's finishing time inside the call (the metrics overlap), then each metric
alone. Baselines, same inputs: sacreBLEU's TER (the pip port of tercom; the official tercom jar is
not available here), sacreBLEU's BLEU (which skips empty references, hence its lower DART BLEU), and
the official Meteor command itself (CMU jar, plaintext, the whole paraphrase table). The official
scripts' own times on 2 cores (golden/*/official.json): WebNLG 35-110 s per system for three splits,
DART 48 s (BLEU 3.7, METEOR 32, TER 13). ``--sample N`` times the baselines and ours on the first N
lines only (sacreBLEU's TER takes about 4 minutes on DART); ``--fresh-cache`` also times building
Meteor's cut paraphrase tables.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from metrics._java import JVM_FLAGS, coco_file, java_executable  # noqa: E402
from metrics._paraphrase import PARAPHRASES  # noqa: E402
from metrics.meteor_plain import CMU_JAR, METEORPlain  # noqa: E402
from metrics.multibleu import MultiBLEU  # noqa: E402
from metrics.suites.dart import score_dart  # noqa: E402
from metrics.suites.webnlg import SPLITS, read_lines, read_seen_mask, score_webnlg  # noqa: E402
from metrics.ter import TER  # noqa: E402


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def official_meteor(hyps: list[str], refs: list[list[str]], n_refs: int) -> float:
    """``java -Xmx2G -jar meteor-1.5.jar hyp refs -l en -norm -r N`` with the whole paraphrase table."""
    with tempfile.TemporaryDirectory() as tmp:
        hyp, ref = Path(tmp, "hyp.txt"), Path(tmp, "refs.txt")
        hyp.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
        ref.write_text(
            "".join(r + "\n" for group in refs for r in group + [""] * (n_refs - len(group))), encoding="utf-8"
        )
        done = subprocess.run(
            [
                java_executable(),
                "-Xmx2G",
                *JVM_FLAGS,
                "-jar",
                str(coco_file(CMU_JAR)),
                str(hyp),
                str(ref),
                "-l",
                "en",
                "-norm",
                "-r",
                str(n_refs),
                "-a",
                str(coco_file(PARAPHRASES)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    return float(done.stdout.split("Final score:")[1].split()[0])


def sacrebleu_ter(hyps: list[str], refs: list[list[str]]) -> float:
    from sacrebleu.metrics import TER as SacreTER

    streams = [[group[k] if k < len(group) else None for group in refs] for k in range(max(map(len, refs)))]
    return SacreTER().corpus_score(hyps, streams).score / 100


def sacrebleu_bleu(hyps: list[str], refs: list[list[str]], lowercase: bool) -> float:
    import sacrebleu

    streams = [[group[k] or None for group in refs] for k in range(3)]  # sacreBLEU skips None references
    return sacrebleu.corpus_bleu(hyps, streams, tokenize="none", lowercase=lowercase).score / 100


def report(
    title: str,
    marks: dict[str, float],
    alone: dict[str, float],
    base: dict[str, float],
    values: dict[str, tuple[float, float | None, float | None]],
) -> None:
    def cell(value: float | None, width: int) -> str:
        return f"{value:{width}.2f}" if value is not None else " " * (width - 1) + "-"

    base = {**base, "total": sum(base.values())}  # the official script runs its metrics one after the other
    print(f"\n{title}")
    print(f"  {'':8s} {'in suite':>9s} {'alone':>8s} {'baseline':>9s}   (seconds; 'in suite' = finished at)")
    for name in ("BLEU", "METEOR", "TER", "total"):
        line = f"  {name:8s} {cell(marks.get(name), 9)} {cell(alone.get(name), 8)} {cell(base.get(name), 9)}"
        if name == "total":
            line += f"   baseline / suite = {base['total'] / marks['total']:.1f}"
        elif name in alone:
            line += f"   baseline / alone = {base[name] / alone[name]:.1f}"
        print(line)
    print("  values (ours | official | baseline):")
    for name, (ours, official, baseline) in values.items():
        print(f"    {name:8s} {ours!r:22} | {official!r:22} | {baseline!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("HARNESS_DATA_DIR") or REPO.parent / "shared" / "data")
    )
    parser.add_argument("--team", default="GKB_Unimelb", help="a WebNLG 2017 team with official scores")
    parser.add_argument("--sample", type=int, help="time everything on the first N lines only")
    parser.add_argument("--fresh-cache", action="store_true", help="empty cache: also build the cut tables")
    args = parser.parse_args()
    if args.fresh_cache:
        os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="bench-cache-")
    n = args.sample
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}" + (f"; first {n} lines" if n else ""))

    # --- WebNLG 2017 ---------------------------------------------------------------------------
    challenge = args.data_dir / "system_outputs" / "webnlg2017_challenge"
    golden = args.data_dir / "golden" / "webnlg2017"
    raw = tempfile.NamedTemporaryFile(suffix=".txt", delete=False)
    raw.write(gzip.decompress((golden / "systems" / args.team / "submission.txt.gz").read_bytes()))
    raw.close()
    from metrics.webnlg_preprocess import preprocess_hypotheses, read_submission

    raw_lines = read_submission(raw.name)[:n]
    os.unlink(raw.name)
    refs = [
        list(g)
        for g in zip(
            *[read_lines(challenge / "references" / f"gold-all-cat-reference{k}.lex") for k in range(3)], strict=True
        )
    ][:n]
    seen = read_seen_mask(golden / "test_split.tsv")[:n]
    marks: dict[str, float] = {}
    result, _ = timed(lambda: score_webnlg(raw_lines, refs, splits=SPLITS, seen=seen, timings=marks))
    hyps = preprocess_hypotheses(raw_lines)
    ter_refs = [[r for r in g if r] for g in refs]
    alone = {
        "BLEU": timed(lambda: [MultiBLEU(lowercase=True).corpus_score(hyps, refs)])[1],
        "METEOR": timed(lambda: METEORPlain(3).corpus_score(hyps, refs))[1],
        "TER": timed(lambda: TER().corpus_score(hyps, ter_refs))[1],
    }
    sacre_ter, base_ter = timed(lambda: sacrebleu_ter(hyps, ter_refs))
    sacre_bleu, base_bleu = timed(lambda: sacrebleu_bleu(hyps, refs, lowercase=True))
    meteor_value, base_meteor = timed(lambda: official_meteor(hyps, refs, 3))
    official = json.loads((golden / "official_all_systems.json").read_text()).get(args.team, {}).get("all", {})
    report(
        f"WebNLG 2017, {args.team} ({len(hyps)} outputs; suite: preprocessing + all/seen/unseen)",
        marks,
        alone,
        {"BLEU": base_bleu, "METEOR": base_meteor, "TER": base_ter},
        {
            "BLEU": (result["all"]["BLEU"], official.get("BLEU", 0) / 100 if not n else None, sacre_bleu),
            "METEOR": (result["all"]["METEOR"], None if n else official.get("METEOR"), meteor_value),
            "TER": (result["all"]["TER"], None if n else official.get("TER"), sacre_ter),
        },
    )

    # --- DART -----------------------------------------------------------------------------------
    dart = args.data_dir / "golden" / "dart"
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name in ("bart-large/hyp.txt.gz", *(f"refs/all-delex-reference{k}.lex.gz" for k in range(3))):
            paths.append(Path(tmp, Path(name).name.removesuffix(".gz")))
            paths[-1].write_bytes(gzip.decompress((dart / name).read_bytes()))
        hyps = read_lines(paths[0])[:n]
        refs = [list(g) for g in zip(*[read_lines(p) for p in paths[1:]], strict=True)][:n]
    marks = {}
    result, _ = timed(lambda: score_dart(hyps, refs, timings=marks))
    present = [[r for r in g if r] for g in refs]
    alone = {
        "BLEU": timed(lambda: MultiBLEU().corpus_score(hyps, refs))[1],
        "METEOR": timed(lambda: METEORPlain(8).corpus_score(hyps, present))[1],
        "TER": timed(lambda: TER().corpus_score([h.strip() for h in hyps], present))[1],
    }
    sacre_ter, base_ter = timed(lambda: sacrebleu_ter([h.strip() for h in hyps], present))
    sacre_bleu, base_bleu = timed(lambda: sacrebleu_bleu(hyps, refs, lowercase=False))
    meteor_value, base_meteor = timed(lambda: official_meteor(hyps, present, 8))
    official = json.loads((dart / "bart-large" / "official.json").read_text())["scores"]
    report(
        f"DART, BART-large ({len(hyps)} outputs)",
        marks,
        alone,
        {"BLEU": base_bleu, "METEOR": base_meteor, "TER": base_ter},
        {
            "BLEU": (result["BLEU"], None if n else official["BLEU"] / 100, sacre_bleu),
            "METEOR": (result["METEOR"], None if n else official["METEOR"], meteor_value),
            "TER": (result["TER"], None if n else official["TER"], sacre_ter),
        },
    )


if __name__ == "__main__":
    main()
