"""Errors the harness raises on purpose.

Convention: one message names the problem AND the fix, so a user who reads only the last
line of a failed Snakemake job knows what to do next.
"""


class HarnessError(Exception):
    """Base class: catch this to report any expected failure without a traceback."""


class ConfigError(HarnessError):
    """The configuration asks for something that does not exist or is inconsistent."""


class DataError(HarnessError):
    """Input data is missing, corrupt, or not in the expected format."""


class ModelError(HarnessError):
    """A backbone cannot be found, loaded, or combined with the requested method."""


class TrainingError(HarnessError):
    """Training cannot start or went wrong (divergence, resume mismatch, ...)."""
