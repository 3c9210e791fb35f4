"""The metric stack, usable alone: ``python -m metrics e2e --hyp FILE --ref FILE``.

Each metric is a small class -- statistics first, score from statistics -- and returns a
``Score`` whose signature names every setting that changes the number (sacreBLEU's idea).
Suites (``metrics.suites``) fix the protocol of a benchmark's official scorer.
"""

from .base import VERSION, Metric, MetricError, Score
from .bleu import BLEU
from .cider import CIDEr
from .meteor import METEOR
from .nist import NIST
from .rouge import ROUGE_L

__version__ = VERSION
__all__ = ["BLEU", "CIDEr", "METEOR", "Metric", "MetricError", "NIST", "ROUGE_L", "Score", "__version__"]
