"""DART's neural metrics, as the last three lines of ``run_eval_on_dart.sh`` (Yale-LILY/dart) run them.

* MoverScore: ``moverscore.py ref0 hyp`` -- moverscore_v2 with distilbert-base-uncased, **reference
  0 only**, idf dictionaries from the hypotheses and from reference 0, no stop words; the mean.
* BERTScore: ``bert-score -r ref0 ref1 ref2 -c hyp --lang en`` -- roberta-large, layer 17, no idf,
  no rescaling, the maximum over the three references (DART's empty reference lines are passed
  as empty strings and score 0, so they never win); the mean F1.
* BLEURT: ``python -m bleurt.score -reference_file=ref0 -bleurt_checkpoint=bleurt/test_checkpoint``
  -- **reference 0 only**, the mean. BLEURT's tiny test checkpoint is TensorFlow only: convert it
  (``metrics/bleurt.py``) and pass the directory; without a checkpoint BLEURT is left out.

``model`` replaces both encoders (a hub name or a local directory, e.g. the packaged MiniLM, which
then needs ``num_layers`` for BERTScore); every signature names the model that was used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import bertscore, moverscore
from ..base import check_corpus
from ..bertscore import BERTScore
from ..bleurt import BLEURT
from ..moverscore import MoverScore

__all__ = ["NEURAL_METRICS", "score_dart_neural"]

NEURAL_METRICS = ("MoverScore", "BERTScore", "BLEURT")


def score_dart_neural(
    hyps: Sequence[str], refs3: Sequence[Sequence[str]], *, model: str | Path | None = None,
    num_layers: int | None = None, bleurt_checkpoint: str | Path | None = None, batch_size: int | None = None,
    device: str | None = None, metrics: Sequence[str] = NEURAL_METRICS,
) -> dict[str, Any]:
    """MoverScore, BERTScore F1 and BLEURT of DART outputs, each with its signature.

    ``refs3[i]`` holds the references of output ``i`` as DART's three files give them (empty
    strings for missing ones; reference 0 first). Lines are stripped, as the official scripts read
    them. BLEURT runs only when ``bleurt_checkpoint`` is given.
    """
    check_corpus(hyps, refs3)
    unknown = set(metrics) - set(NEURAL_METRICS)
    if unknown:
        raise ValueError(f"unknown DART neural metrics {sorted(unknown)}; known: {', '.join(NEURAL_METRICS)}")
    hyps = [h.strip() for h in hyps]
    refs = [[r.strip() for r in group] for group in refs3]
    if not all(group[0] for group in refs):
        raise ValueError("reference 0 is empty for some outputs; DART's reference0 file has a line for every one")
    batch = {"batch_size": batch_size} if batch_size else {}  # else each tool's own default
    chosen = []
    if "MoverScore" in metrics:
        chosen.append(MoverScore(model or moverscore.DEFAULT_MODEL, idf="corpus", refs="first", device=device,
                                 **batch))
    if "BERTScore" in metrics:
        chosen.append(BERTScore(model or bertscore.DEFAULT_MODEL, num_layers, device=device, **batch))
    if "BLEURT" in metrics and bleurt_checkpoint is not None:
        chosen.append(BLEURT(bleurt_checkpoint, refs="first", device=device, **batch))
    result: dict[str, Any] = {}
    signatures = {}
    for metric in chosen:
        score = metric.corpus_score(hyps, refs)
        result[score.name], signatures[score.name] = score.value, score.signature
    result["signature"] = signatures
    return result
