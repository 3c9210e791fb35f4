"""A decoding cache that grows in place: buffers sized for the whole search, one token written per step.

transformers' DynamicCache appends each step's keys and values with `torch.cat`, which copies the whole cache
every step: for a beam search over a whole test set that copy is most of the step (40% of an E2E-shaped
decode on an H200, bench/results/profile_h200_run2.txt). Here the prefill's cache is moved once into buffers
with room for every new token; a step writes its token into place and attention reads a view.

The prefill also runs once per input rather than once per beam (all beams of an input start identical), and
its cache is repeated for the beams while it is moved: the same values, a K-th of the prefill's work.
"""

from __future__ import annotations

import contextlib

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class GrowingLayer(DynamicLayer):
    """One layer's keys and values in preallocated buffers [rows, heads, capacity, head_dim].

    Beam reordering gathers whole buffers into a second pair and swaps them: a contiguous copy runs at memory
    speed, while gathering into the filled part of a buffer in place is a strided copy several times slower
    (bench/results/profile_h200_run3.txt).
    """

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, repeats: int, room: int) -> None:
        super().__init__()
        rows, heads, length, dim = keys.shape
        self.key_buffer = keys.new_empty(rows * repeats, heads, length + room, dim)
        self.value_buffer = values.new_empty(rows * repeats, values.shape[1], length + room, values.shape[-1])
        self.key_buffer[:, :, :length] = keys.repeat_interleave(repeats, 0)
        self.value_buffer[:, :, :length] = values.repeat_interleave(repeats, 0)
        self.spare: tuple[torch.Tensor, torch.Tensor] | None = None  # the second pair, made at the first reorder
        self.length = length
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
        self._expose()

    def _expose(self) -> None:
        # What the model's attention reads (and get_seq_length measures): the filled part, as views.
        self.keys = self.key_buffer[:, :, : self.length]
        self.values = self.value_buffer[:, :, : self.length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        new = key_states.shape[-2]
        if self.length + new > self.key_buffer.shape[2]:
            raise RuntimeError("decode cache is full: more tokens than the search asked room for")
        self.key_buffer[:, :, self.length : self.length + new] = key_states
        self.value_buffer[:, :, self.length : self.length + new] = value_states
        self.length += new
        self._expose()
        return self.keys, self.values

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        if self.spare is None:
            self.spare = (torch.empty_like(self.key_buffer), torch.empty_like(self.value_buffer))
        beam_idx = beam_idx.to(self.device)
        keys, values = self.spare
        torch.index_select(self.key_buffer, 0, beam_idx, out=keys)
        torch.index_select(self.value_buffer, 0, beam_idx, out=values)
        self.spare = (self.key_buffer, self.value_buffer)
        self.key_buffer, self.value_buffer = keys, values
        self._expose()


def grown(cache: DynamicCache, repeats: int, room: int) -> DynamicCache:
    """The prefill's cache, each row repeated `repeats` times, with room for `room` more tokens per layer.

    Only plain full-attention layers are moved; a cache with other kinds (sliding windows, quantised) is
    repeated as it is and keeps growing its own way."""
    if not all(type(layer) is DynamicLayer for layer in cache.layers):
        cache.batch_repeat_interleave(repeats)
        return cache
    out = DynamicCache()
    out.layers = [GrowingLayer(layer.keys, layer.values, repeats, room) for layer in cache.layers]
    return out


def step_attention(device: torch.device):
    """The attention kernels for a one-token decoding step. On a GPU, PyTorch's memory-efficient kernel (with
    the plain one as fallback): the default pick there, cuDNN's flash kernel, is built for long queries and
    made a whole E2E-shaped decode 1.8x slower (3.74 s against 2.07 s, bench/results/gpu_bench_h200_run5.md).
    On a CPU nothing changes."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])
