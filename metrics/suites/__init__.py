"""Benchmark protocols, one module per benchmark's official scorer.

Each suite module provides ``add_arguments(parser)`` and ``run(args) -> dict`` for the CLI, plus
its own ``score_<suite>`` function for Python callers. Register a new suite here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["SUITES", "load_suite"]

SUITES: dict[str, str] = {
    "e2e": "metrics.suites.e2e",
    "superglue": "metrics.suites.superglue",
    "mrqa": "metrics.suites.mrqa",
    "glue": "metrics.suites.glue",
    "xsum": "metrics.suites.xsum",
    "webnlg": "metrics.suites.webnlg",
    "dart": "metrics.suites.dart",
}


def load_suite(name: str) -> ModuleType:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; known: {', '.join(sorted(SUITES))}")
    return importlib.import_module(SUITES[name])
