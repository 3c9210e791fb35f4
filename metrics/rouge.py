"""ROUGE-L as coco-caption's ``Rouge`` computes it (E2E's official ROUGE_L).

Per segment: LCS with each reference on ``split(" ")`` tokens, precision and recall maximised
SEPARATELY over the references, F = (1 + b^2) P R / (R + b^2 P) with b = 1.2; corpus score =
mean over segments (numpy's mean, as coco does, so the float is the same).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import Score, format_signature
from .ptb import PTBMetric, ptb_signature

__all__ = ["ROUGE_L", "lcs_length"]


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyro 2004): one big-int step per token of b."""
    return _lcs_with_masks(_token_masks(a), len(a), b)


def _token_masks(tokens: Sequence[str]) -> dict[str, int]:
    """For each token, a bit mask of the positions where it occurs."""
    masks: dict[str, int] = {}
    for i, token in enumerate(tokens):
        masks[token] = masks.get(token, 0) | (1 << i)
    return masks


def _lcs_with_masks(masks: dict[str, int], length: int, b: Sequence[str]) -> int:
    full = (1 << length) - 1
    v = full
    for token in b:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return length - v.bit_count()


class ROUGE_L(PTBMetric):  # noqa: N801 -- the metric's official name
    name = "ROUGE_L"

    def __init__(self, beta: float = 1.2) -> None:
        self.beta = beta

    def signature(self) -> str:
        return format_signature(self.name, {
            "impl": "coco-caption", "beta": self.beta, "refs": "max-P-and-max-R", "agg": "mean",
            "tok": ptb_signature(),
        })

    def statistics_from_tokens(self, hypotheses: list[str], references: list[list[str]]) -> list[tuple[float, float]]:
        """(max precision, max recall) per segment."""
        stats = []
        for hyp, group in zip(hypotheses, references, strict=True):
            hyp_tokens = hyp.split(" ")
            masks = _token_masks(hyp_tokens)
            precision = recall = 0.0
            for ref in group:
                ref_tokens = ref.split(" ")
                lcs = _lcs_with_masks(masks, len(hyp_tokens), ref_tokens)
                precision = max(precision, lcs / float(len(hyp_tokens)))
                recall = max(recall, lcs / float(len(ref_tokens)))
            stats.append((precision, recall))
        return stats

    def score_from_statistics(self, stats: list[tuple[float, float]]) -> Score:
        beta2 = self.beta**2
        scores = [
            ((1 + beta2) * p * r) / float(r + beta2 * p) if p != 0 and r != 0 else 0.0 for p, r in stats
        ]
        value = float(np.mean(np.array(scores))) if scores else 0.0
        return Score(self.name, value, self.signature(), {"segment_scores": scores})
