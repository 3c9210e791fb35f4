"""Where the time of our GPU paths goes: torch.profiler tables for a packed training step and a decode.

    python3 bench/profile_gpu.py            # GPU: the shapes of bench/gpu.py
    python bench/profile_gpu.py --small     # CPU: the same code on tiny shapes

Prints, per workload, the kernels (or CPU ops) with the most device time, so a change to the training or
decoding path can aim at what costs. Reuses bench/gpu.py's model builders and inputs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gpu  # noqa: E402  (bench/gpu.py)

from harness.generate import _left_pad  # noqa: E402
from harness.methods import build_method  # noqa: E402
from harness.methods.prefix import PrefixTuning  # noqa: E402
from harness.packed import PackedCells  # noqa: E402


def _table(prof, device: torch.device, rows: int) -> str:
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=70)


def _profiled(name: str, run, device: torch.device, rows: int) -> None:
    run()  # warm-up: allocator, kernels' first launches
    gpu.sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        run()
        gpu.sync(device)
    print(f"\n### {name}: {time.perf_counter() - start:.3f} s under the profiler", flush=True)
    print(_table(prof, device, rows), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args()
    shapes = gpu.SMALL if args.small else gpu.FULL
    device = torch.device("cpu" if args.small or not torch.cuda.is_available() else "cuda")
    backbone = gpu.build_gpt2(shapes, device)
    print(f"attention implementation: {backbone.config._attn_implementation}", flush=True)
    vocab, k, b = backbone.config.vocab_size, shapes.cells, shapes.small_batch
    methods = []
    for seed in range(k):
        torch.manual_seed(seed)
        methods.append(PrefixTuning(backbone, length=shapes.prefix_len, mid_dim=shapes.mid_dim).to(device))
    packed = PackedCells(methods)
    step = gpu.packed_train_step(packed, methods, gpu.train_batch(k * b, shapes, vocab, device, 4), b, device)
    _profiled(f"packed training step, K={k} x batch {b}", step, device, args.rows)

    ours = methods[0].eval()
    ours.load_export(ours.export_state())
    ours.to(torch.bfloat16)
    eos = backbone.config.eos_token_id
    ids, mask = (t.to(device) for t in _left_pad(gpu.prompts(shapes.e2e_inputs, shapes.e2e_len, vocab, 7), eos))
    new = 8

    def decode() -> None:
        gpu.ours_decode(ours, ids, mask, num_beams=shapes.e2e_beams, new=new, eos=eos)

    _profiled(f"decode {ids.shape[0]} inputs, beam {shapes.e2e_beams}, {new} new tokens", decode, device, args.rows)
    del methods, packed, step  # free the training state; the GPT-2 weights stay (small next to BART's run)

    bart = gpu.build_bart(shapes, device).eval()
    spec = {"type": "prefix", "length": shapes.xsum_prefix_len, "mid_dim": shapes.mid_dim}
    prefix = build_method(spec, bart).to(device).eval()
    prefix.load_export(prefix.export_state())
    prefix.to(torch.bfloat16)
    docs = max(shapes.xsum_ours_docs) // 4
    gen = torch.Generator().manual_seed(0)
    src = torch.randint(3, bart.config.vocab_size - 1, (docs, shapes.xsum_source_len), generator=gen).to(device)
    src_mask = torch.ones_like(src)

    def decode_bart() -> None:
        gpu.ours_decode(prefix, src, src_mask, num_beams=shapes.xsum_beams, new=new, eos=bart.config.eos_token_id)

    _profiled(
        f"BART decode {docs} documents, beam {shapes.xsum_beams}, {new} new tokens", decode_bart, device, args.rows
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
