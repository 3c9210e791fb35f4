"""Dataset loaders behind one registry.

Each dataset is one module exposing NAME, PARAMS, `prepare(params, root, out_dir) -> dict`,
`variant_name(params) -> str` and `describe() -> dict`; adding a dataset is adding its module
and one line to DATASETS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from harness.data import dart, e2e, glue, mrqa, superglue, webnlg, xsum
from harness.data.paths import data_root
from harness.errors import ConfigError


class DatasetModule(Protocol):
    NAME: str
    PARAMS: tuple[str, ...]

    def prepare(self, params: dict | None, root: Path, out_dir: Path) -> dict: ...

    def variant_name(self, params: dict | None) -> str: ...

    def describe(self) -> dict: ...


DATASETS: dict[str, DatasetModule] = {
    e2e.NAME: e2e,
    superglue.NAME: superglue,
    mrqa.NAME: mrqa,
    glue.NAME: glue,
    webnlg.NAME: webnlg,
    dart.NAME: dart,
    xsum.NAME: xsum,
}


def get(dataset: str) -> DatasetModule:
    """The loader module of `dataset`; ConfigError listing the known ones otherwise."""
    try:
        return DATASETS[dataset]
    except KeyError:
        raise ConfigError(f"unknown dataset {dataset!r}; known datasets: {sorted(DATASETS)}.") from None


def prepare(dataset: str, params: dict | None, data_dir: Path | None, out_dir: Path) -> dict:
    """Prepare one data variant of `dataset` into `out_dir` (see docs/contracts.md); returns the manifest."""
    return get(dataset).prepare(params, data_root(data_dir), Path(out_dir))


def variant_name(dataset: str, params: dict | None) -> str:
    """The split folder name for `params`, e.g. "lowdata-100-s0"."""
    return get(dataset).variant_name(params)


__all__ = ["DATASETS", "DatasetModule", "data_root", "get", "prepare", "variant_name"]
