"""The in-place decoding cache holds exactly what transformers' DynamicCache holds, step after step."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from harness.decode_cache import grown


def _prefilled(rows: int, layers: int = 2, length: int = 3) -> DynamicCache:
    cache = DynamicCache()
    for layer in range(layers):
        cache.update(torch.randn(rows, 2, length, 4), torch.randn(rows, 2, length, 4), layer)
    return cache


def test_growing_in_place_equals_concatenating():
    torch.manual_seed(0)
    plain = _prefilled(rows=3)
    ours = grown(_clone(plain), repeats=2, room=4)
    plain.batch_repeat_interleave(2)
    for step in range(4):
        order = torch.randperm(6)
        plain.reorder_cache(order)
        ours.reorder_cache(order)
        for layer in range(2):
            k, v = torch.randn(6, 2, 1, 4), torch.randn(6, 2, 1, 4)
            want = plain.update(k, v, layer)
            got = ours.update(k.clone(), v.clone(), layer)
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        assert ours.get_seq_length() == plain.get_seq_length() == 3 + step + 1
    with pytest.raises(RuntimeError, match="cache is full"):
        ours.update(torch.randn(6, 2, 1, 4), torch.randn(6, 2, 1, 4), 0)


def _clone(cache: DynamicCache) -> DynamicCache:
    copy = DynamicCache()
    for i, layer in enumerate(cache.layers):
        copy.update(layer.keys.clone(), layer.values.clone(), i)
    return copy
