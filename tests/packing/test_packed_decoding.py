"""Fast decoding: length-sorted whole-set batches and packed cells give the plain decoder's outputs."""

from __future__ import annotations

import pytest
import torch
from core_conftest_helpers import DECODE, SYNTHETIC_ROWS, make_cell, randomise_prefix_, write_synthetic_data
from method_checks import tiny, tokenizer

from harness.generate import decode, generate_cell, generate_pack
from harness.methods import build_method
from harness.packed import PackedCells
from harness.train import train_pack

PREFIX = {"type": "prefix", "length": 3, "mid_dim": 16}
SOURCES = [s for s, _ in SYNTHETIC_ROWS]
STRATEGIES = {
    "beam": {**DECODE, "max_new_tokens": 6, "min_new_tokens": 1},
    "greedy": {**DECODE, "strategy": "greedy", "max_new_tokens": 6, "min_new_tokens": 1},
}


def _prefix(backbone, seed: int):
    torch.manual_seed(seed)
    method = build_method(PREFIX, backbone)
    randomise_prefix_(method, std=1.0, seed=seed)  # make the cells surely differ
    return method


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_the_whole_set_in_one_batch_equals_one_input_at_a_time(strategy):
    method = _prefix(tiny("llama"), seed=0)
    cfg = STRATEGIES[strategy]
    one_by_one = decode(method, tokenizer(), SOURCES, {**cfg, "batch_size": 1})
    whole = decode(method, tokenizer(), SOURCES, {**cfg, "batch_size": len(SOURCES)})
    assert whole == one_by_one
    assert len(set(whole)) > 1


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_packed_cells_decode_as_each_cell_alone(strategy):
    backbone = tiny("llama")
    methods = [_prefix(backbone, seed) for seed in range(3)]
    cfg = {**STRATEGIES[strategy], "batch_size": 3 * len(SOURCES)}
    owner = [i % 3 for i in range(len(SOURCES))]
    packed = decode(PackedCells(methods), tokenizer(), SOURCES, cfg, cells=owner)
    for i, method in enumerate(methods):
        mine = [s for s, o in zip(SOURCES, owner, strict=True) if o == i]
        assert [line for line, o in zip(packed, owner, strict=True) if o == i] == decode(method, tokenizer(), mine, cfg)
    alone = [decode(m, tokenizer(), SOURCES[:2], cfg) for m in methods]
    assert alone[0] != alone[1], "the cells' prefixes must change the outputs for this test to mean anything"


def test_generate_pack_writes_what_generate_cell_writes(tmp_path):
    data = write_synthetic_data(tmp_path / "data", n=6)
    cells = [make_cell("tiny:llama", PREFIX, seed=s, lr=0.5, max_steps=3) for s in range(2)]
    dirs = [tmp_path / f"cell{i}" for i in range(2)]
    train_pack(cells, [data] * 2, dirs)
    packed = [p.read_text() for p in generate_pack(cells, [data] * 2, dirs)]
    alone = [generate_cell(cell, data, d).read_text() for cell, d in zip(cells, dirs, strict=True)]
    assert packed == alone
    assert len(packed[0].splitlines()) == 6
