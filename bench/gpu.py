"""GPU speed of the project's prefix-tuning paths against the PEFT baseline, in one call, on the same inputs.

    python3 bench/gpu.py           # on a GPU machine: the shapes of shared/notes/gpu.md, a few minutes
    python bench/gpu.py --small    # on CPU: tiny shapes, the same code paths, well under a minute (CI)

Backbones are built from configs with random weights (no downloads; speed does not depend on the values):
GPT-2-medium (24 layers, d=1024, 16 heads, vocab 50,257) and BART-large (12+12 layers, d=1024, 16 heads,
ffn 4096, vocab 50,265). Sections, each with its goal from issue 7:

1. train_packed -- prefix-tuning training (P=10, MLP 800, 96 tokens, bf16 autocast, AdamW): PEFT, one cell
   at batch 5, against K=16 packed cells at batch 5 each. Goal: ours tokens/s >= 8x PEFT.
2. train_b64 -- one cell at batch 64: PEFT against ours (fp32 or bf16 frozen weights, fused AdamW). Goal >= 1.5x.
3. decode_e2e -- 630 inputs of ~40 tokens, beam 5, exactly 40 new tokens (random weights never emit EOS, so
   min = max keeps the work equal): PEFT `generate` at batch 64 against ours. Goal: ours <= 1.5 s in total.
4. decode_xsum -- BART-large, sources of 512 tokens, beam 6, exactly 64 new tokens, length penalty 0.8:
   PEFT `generate` against ours. Goal: ours sequences/s >= 10x PEFT.

Every section first checks, in fp32 on the same inputs and weights, that both sides compute the same thing
(losses and gradients to ~1e-5 relative, beam-search token ids exactly), then times: warm-up steps, then
timed steps each closed by a device synchronisation, median. Peak memory is reset per row. A failing row
or section is recorded in the table and the run goes on; the JSON is rewritten after every section, so a
run cut short still leaves its numbers. Output: one table on stdout (printed row by row, then whole), and
`gpu_bench.json` / `gpu_bench.md` (`gpu_bench_small.*` for --small) under --out, else $OUT, else
bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.generate import _left_pad, beam_search  # noqa: E402
from harness.methods import build_method  # noqa: E402
from harness.methods.base import Method  # noqa: E402
from harness.methods.prefix import PrefixTuning  # noqa: E402
from harness.models import fuse_activations  # noqa: E402
from harness.train import batch_loss  # noqa: E402

GIB = 2**30
LOSS_TOL = 1e-5  # fp32 on both sides, same weights and inputs: only summation order may differ
GRAD_TOL = 1e-4  # gradients go through one more reduction (over the batch), so a little more slack
NO_TOKENS = torch.tensor([], dtype=torch.long)
DROPOUT_NOTE = (
    "PEFT trains in train mode (GPT-2's dropout 0.1 on, as a PEFT user runs it); ours keeps the frozen backbone "
    "in eval mode (no dropout: the harness' design, so packed cells equal separate runs). Our rows run with "
    "GPT-2's GELU swapped for PyTorch's fused tanh-GELU (harness.models.fuse_activations, as the harness does on "
    "a GPU; the equality checks above ran before the swap)"
)


@dataclass(frozen=True)
class Shapes:
    """Everything that sets the size of the work: the full GPU run or the tiny CPU run."""

    gpt2: dict
    bart: dict
    seq_len: int = 96
    source_len: int = 40  # label-free context at the start of each training row (E2E-like: loss on the target)
    prefix_len: int = 10
    mid_dim: int = 800
    cells: int = 16
    small_batch: int = 5
    big_batch: int = 64
    warmup: int = 3
    timed: int = 10
    e2e_inputs: int = 630
    e2e_len: int = 40
    e2e_beams: int = 5
    e2e_new: int = 40
    e2e_peft_batch: int = 64
    e2e_goal_s: float = 1.5
    xsum_prefix_len: int = 100
    xsum_source_len: int = 512
    xsum_beams: int = 6
    xsum_new: int = 64
    xsum_length_penalty: float = 0.8
    xsum_peft_docs: int = 64
    xsum_ours_docs: tuple[int, ...] = (512, 256, 128, 64)  # the largest that fits (cross-attention keys x beams)
    check_inputs: int = 4  # decoding equality checks: a few inputs, fp32, a few new tokens
    check_new: int = 8
    section_limit_s: dict = field(
        # Upper bounds (expected: well under half), summing to 7 minutes: one slow section cannot sink the run.
        default_factory=lambda: {"train_packed": 90, "train_b64": 60, "decode_e2e": 150, "decode_xsum": 120}
    )


FULL = Shapes(
    gpt2=dict(n_layer=24, n_embd=1024, n_head=16, vocab_size=50257, n_positions=1024),
    bart=dict(),  # BartConfig's defaults are facebook/bart-large's shape
)
SMALL = Shapes(
    # A wider init than GPT-2's 0.02 so that tiny random models give varied beams (a sharper equality check).
    gpt2=dict(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=256, initializer_range=0.1),
    bart=dict(
        vocab_size=1000,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=256,
        init_std=0.6,  # varied beams from a tiny random BART (0.1 repeats one token)
    ),
    mid_dim=32,
    cells=4,
    big_batch=16,
    warmup=1,
    timed=3,
    e2e_inputs=24,
    e2e_new=8,
    e2e_peft_batch=8,
    xsum_prefix_len=10,
    xsum_source_len=64,
    xsum_new=8,
    xsum_peft_docs=4,
    xsum_ours_docs=(8,),
    section_limit_s={"train_packed": 60, "train_b64": 60, "decode_e2e": 60, "decode_xsum": 60},
)


# -- the report: rows printed as they come, JSON rewritten after every section ---------------------------


@dataclass
class Row:
    what: str
    kind: str  # "baseline" (PEFT), "ours" or "check"
    batch: str = ""
    step_ms: float | None = None  # training: median step time
    total_s: float | None = None  # decoding: wall time for the whole input set
    throughput: float | None = None
    unit: str = ""  # "tok/s", "seq/s"
    peak_gib: float | None = None
    ratio: float | None = None  # throughput over the section's PEFT row
    goal: str = ""
    met: bool | None = None
    value: float | None = None  # checks: max relative difference, or fraction of inputs that match
    passed: bool | None = None  # checks only
    error: str | None = None
    note: str = ""


@dataclass
class Section:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    error: str | None = None
    elapsed_s: float | None = None
    notes: list[str] = field(default_factory=list)


HEADER = "| what | batch | time | throughput | peak GiB | vs PEFT | goal | met? |"


def _fmt_row(row: Row) -> str:
    if row.error:
        return f"| {row.what} | {row.batch} | – | {row.error} | – | – | {row.goal} | – |"
    if row.kind == "check":
        shown = f"{row.value:.2e}" if row.unit == "rel diff" else f"{row.value:.0%} equal"
        verdict = "yes" if row.passed else "NO"
        what = f"{row.what} ({row.note})" if row.note else row.what
        return f"| {what} | {row.batch} | – | {shown} | – | – | {row.goal} | {verdict} |"
    time_ = f"{row.step_ms:.1f} ms/step" if row.step_ms is not None else ""
    time_ = f"{row.total_s:.2f} s total" if row.total_s is not None else time_
    thr = f"{row.throughput:,.1f} {row.unit}" if row.throughput is not None else "–"
    peak = f"{row.peak_gib:.1f}" if row.peak_gib is not None else "–"
    ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
    met = "" if row.met is None else ("yes" if row.met else "NO")
    what = f"{row.what} ({row.note})" if row.note else row.what
    return f"| {what} | {row.batch} | {time_} | {thr} | {peak} | {ratio} | {row.goal} | {met} |"


class Report:
    def __init__(self, out_dir: Path, stem: str, env: dict) -> None:
        self.json_path, self.md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
        self.env = env
        self.sections: list[Section] = []
        self.started = time.perf_counter()
        out_dir.mkdir(parents=True, exist_ok=True)

    def open(self, name: str, title: str) -> Section:
        section = Section(name, title)
        self.sections.append(section)
        say(f"| **{title}** | | | | | | | |")
        return section

    def add(self, section: Section, row: Row) -> Row:
        section.rows.append(row)
        say(_fmt_row(row))
        return row

    def table(self) -> str:
        lines = [HEADER, "|---|---|---|---|---|---|---|---|"]
        for section in self.sections:
            lines.append(f"| **{section.title}** ({section.elapsed_s or 0:.0f} s) | | | | | | | |")
            lines += [_fmt_row(row) for row in section.rows]
            if section.error:
                lines.append(f"| section failed | | | {section.error} | | | | |")
        notes = [f"- {s.name}: {note}" for s in self.sections for note in s.notes]
        return "\n".join(lines + (["", "Notes:", *notes] if notes else []))

    def save(self) -> None:
        self.env["elapsed_s"] = round(time.perf_counter() - self.started, 1)
        data = {"env": self.env, "sections": [asdict(s) for s in self.sections]}
        self.json_path.write_text(json.dumps(data, indent=1) + "\n")
        self.md_path.write_text(self.table() + "\n")


def say(text: str) -> None:
    print(text, flush=True)


# -- device helpers ----------------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def autocast(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16)


def median_step_ms(step: Callable[[], None], warmup: int, timed: int, device: torch.device) -> float:
    """Warm-up steps (allocator, kernels, optimizer state), then the median of timed, synchronised steps."""
    for _ in range(warmup):
        step()
    sync(device)
    times = []
    for _ in range(timed):
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def wall_s(run: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    sync(device)
    start = time.perf_counter()
    result = run()
    sync(device)
    return result, time.perf_counter() - start


class SectionTimeout(BaseException):
    """Not an Exception: the per-row handlers inside a section must not swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise SectionTimeout in this thread after `seconds` (checked between Python bytecodes: a section stuck
    in a slow Python loop is cut, so one slow section cannot eat the whole device lease)."""

    def _raise(signum, frame):
        raise SectionTimeout(f"section ran past its {seconds:.0f} s limit")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().flatten(), b.detach().double().flatten()
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def short(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".splitlines()[0]
    return text[:200]


# -- models and inputs ---------------------------------------------------------------------------------


def build_gpt2(shapes: Shapes, device: torch.device, seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    last = shapes.gpt2["vocab_size"] - 1  # GPT-2's <|endoftext|> is its last token (50256)
    config = GPT2Config(**shapes.gpt2, bos_token_id=last, eos_token_id=last)
    torch.manual_seed(seed)
    with torch.device(device):  # initialise on the device: a CPU init of 355M parameters takes seconds
        model = GPT2LMHeadModel(config)
    return model


def build_bart(shapes: Shapes, device: torch.device, seed: int = 0):
    from transformers import BartConfig, BartForConditionalGeneration

    # No forced EOS (bart-large's config forces one at max length): our search and PEFT's must do equal work.
    config = BartConfig(**shapes.bart, forced_eos_token_id=None, forced_bos_token_id=None)
    torch.manual_seed(seed)
    with torch.device(device):
        model = BartForConditionalGeneration(config)
    return model


def peft_prefix(backbone, task: str, length: int, mid_dim: int):
    """The baseline a user runs today: PEFT prefix tuning with the MLP reparameterisation."""
    from peft import PrefixTuningConfig, get_peft_model

    config = PrefixTuningConfig(
        task_type=task, num_virtual_tokens=length, prefix_projection=True, encoder_hidden_size=mid_dim
    )
    return get_peft_model(backbone, config)


def copy_prefix(peft_model, ours: PrefixTuning) -> None:
    """PEFT's PrefixEncoder (embedding -> Linear -> Tanh -> Linear) into ours, weight for weight.

    No permutation is needed: PEFT views the MLP output as [B, P, 2L, heads, head_dim] and hands layer i the
    slices 2i (keys) and 2i+1 (values); ours views it as [P, 2L, kv_heads, head_dim] with the same order.
    The loss check below is what proves it.
    """
    encoder = peft_model.prompt_encoder[peft_model.active_adapter]
    pairs = [
        (ours.wte, encoder.embedding),
        (ours.control_trans[0], encoder.transform[0]),
        (ours.control_trans[2], encoder.transform[2]),
    ]
    with torch.no_grad():
        for mine, theirs in pairs:
            for name, param in mine.named_parameters():
                param.copy_(getattr(theirs, name))


def train_batch(
    rows: int, shapes: Shapes, vocab: int, device: torch.device, seed: int, ragged: bool = False
) -> dict[str, torch.Tensor]:
    """Token rows of `seq_len` with the loss on everything after the source part (as E2E rows have it).
    `ragged`: right-pad some rows, so the checks exercise the attention mask too."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab - 1, (rows, shapes.seq_len), generator=gen)
    mask = torch.ones_like(ids)
    if ragged:
        for i in range(1, rows, 2):
            mask[i, shapes.seq_len - 7 * i :] = 0
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, : shapes.source_len] = -100
    return {k: v.to(device) for k, v in dict(input_ids=ids, attention_mask=mask, labels=labels).items()}


def prompts(n: int, length: int, vocab: int, seed: int) -> list[list[int]]:
    """n random prompts of about `length` tokens (lengths vary, so batches are left-padded)."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(max(1, length - 6), length + 7, (n,), generator=gen)
    return [torch.randint(3, vocab - 1, (int(n_),), generator=gen).tolist() for n_ in lengths]


def flat_grads(params: list[torch.nn.Parameter]) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in params])


def zero_grads(params: list[torch.nn.Parameter]) -> None:
    for p in params:
        p.grad = None


# -- equality checks -------------------------------------------------------------------------------------


def check_prefix_loss(report: Report, sec: Section, peft_model, ours: PrefixTuning, batch: dict) -> None:
    """fp32 loss and gradients of PEFT's prefix vs ours on the same batch, same weights (dropout off)."""
    peft_model.eval()
    ours.eval()
    theirs_loss = peft_model(**batch).loss
    theirs_loss.backward()
    encoder = peft_model.prompt_encoder[peft_model.active_adapter]
    theirs_grad = flat_grads([encoder.embedding.weight, *encoder.transform.parameters()])
    mine_params = ours.trainable_parameters()
    mine_loss = batch_loss(ours, batch)
    mine_loss.backward()
    loss_diff = rel_diff(mine_loss, theirs_loss)
    grad_diff = rel_diff(flat_grads(mine_params), theirs_grad)
    zero_grads([*peft_model.parameters(), *mine_params])
    rows = batch["input_ids"].shape[0]
    report.add(sec, check_row("check: fp32 loss, ours == PEFT prefix", rows, loss_diff, LOSS_TOL))
    report.add(sec, check_row("check: fp32 prefix gradients, ours == PEFT", rows, grad_diff, GRAD_TOL))


def check_row(what: str, batch: Any, value: float, tol: float) -> Row:
    return Row(what, "check", batch=str(batch), value=value, unit="rel diff", goal=f"<= {tol:g}", passed=value <= tol)


def check_packed(report: Report, sec: Section, packed, methods: list[PrefixTuning], batch: dict, per: int) -> None:
    """The packed step gives every cell the loss and gradients of its own separate run (fp32)."""
    from harness.packed import per_cell_loss

    k = len(methods)
    cells = torch.arange(k, device=batch["input_ids"].device).repeat_interleave(per)
    packed.eval()
    losses = per_cell_loss(packed, batch, cells, k)
    losses.sum().backward()
    packed_grads = [flat_grads(m.trainable_parameters()) for m in methods]
    for m in methods:
        zero_grads(m.trainable_parameters())
    loss_diffs, grad_diffs = [], []
    for i, method in enumerate(methods):
        own = {key: value[i * per : (i + 1) * per] for key, value in batch.items()}
        loss = batch_loss(method, own)
        loss.backward()
        loss_diffs.append(rel_diff(losses[i], loss))
        grad_diffs.append(rel_diff(packed_grads[i], flat_grads(method.trainable_parameters())))
        zero_grads(method.trainable_parameters())
    what = f"check: fp32 packed {k} cells == separate runs"
    report.add(sec, check_row(f"{what}, loss", k * per, max(loss_diffs), LOSS_TOL))
    report.add(sec, check_row(f"{what}, gradients", k * per, max(grad_diffs), GRAD_TOL))


def check_same_ids(report: Report, sec: Section, what: str, ours: list[list[int]], theirs: list[list[int]]) -> bool:
    same = sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(theirs)
    # How sharp the check is: random weights can collapse onto one repeated token, which proves less.
    distinct = len({tok for seq in theirs for tok in seq})
    note = f"{distinct} distinct tokens in {sum(map(len, theirs))}"
    row = Row(what, "check", batch=str(len(theirs)), value=same, unit="equal", goal="100%", passed=same == 1, note=note)
    return bool(report.add(sec, row).passed)


# -- timed rows ------------------------------------------------------------------------------------------


def timed_row(
    report: Report,
    sec: Section,
    what: str,
    kind: str,
    batch: int,
    step: Callable[[], None],
    tokens_per_step: int,
    shapes: Shapes,
    device: torch.device,
    baseline: Row | None = None,
) -> Row:
    reset_peak(device)
    ms = median_step_ms(step, shapes.warmup, shapes.timed, device)
    row = Row(what, kind, batch=str(batch), step_ms=ms, throughput=tokens_per_step / ms * 1000, unit="tok/s")
    row.peak_gib = peak_gib(device)
    if baseline is not None and baseline.throughput:
        row.ratio = row.throughput / baseline.throughput
    return report.add(sec, row)


def error_row(
    report: Report,
    sec: Section,
    what: str,
    kind: str,
    batch: Any,
    err: BaseException,
    goal: str = "",
    unavailable: bool = False,
) -> Row:
    """Record a failed row (the traceback goes to stderr) and let the section go on."""
    traceback.print_exception(err, file=sys.stderr)
    error = f"not available: {short(err)}" if unavailable else short(err)
    return report.add(sec, Row(what, kind, batch=str(batch), goal=goal, error=error))


def peft_train_step(peft_model, batch: dict, device: torch.device) -> Callable[[], None]:
    """What a PEFT user runs: the model's own loss, bf16 autocast, plain AdamW (PyTorch's default kernel)."""
    peft_model.train()
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=5e-5)

    def step() -> None:
        with autocast(device):
            loss = peft_model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def ours_train_step(method: PrefixTuning, batch: dict, device: torch.device) -> Callable[[], None]:
    """The harness loop's step for one cell: batch_loss, bf16 autocast, fused AdamW on CUDA."""
    method.train()
    optimizer = torch.optim.AdamW(method.trainable_parameters(), lr=5e-5, fused=device.type == "cuda")

    def step() -> None:
        with autocast(device):
            loss = batch_loss(method, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def packed_train_step(packed, methods: list[PrefixTuning], batch: dict, per: int, device: torch.device):
    """K cells in one batch: one forward/backward over the shared backbone, then each cell's own AdamW."""
    from harness.packed import per_cell_loss

    k = len(methods)
    cells = torch.arange(k, device=device).repeat_interleave(per)
    packed.train()
    optimizers = [torch.optim.AdamW(m.trainable_parameters(), lr=5e-5, fused=device.type == "cuda") for m in methods]

    def step() -> None:
        with autocast(device):
            losses = per_cell_loss(packed, batch, cells, k)
        losses.sum().backward()
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return step


# -- sections --------------------------------------------------------------------------------------------


def section_train_packed(report: Report, sec: Section, shapes: Shapes, device: torch.device) -> None:
    from harness.packed import PackedCells

    backbone = build_gpt2(shapes, device)
    vocab, k, b = backbone.config.vocab_size, shapes.cells, shapes.small_batch
    peft_model = peft_prefix(backbone, "CAUSAL_LM", shapes.prefix_len, shapes.mid_dim)
    methods = []
    for seed in range(k):
        torch.manual_seed(100 + seed)  # every cell its own initial prefix, as separate runs would draw
        methods.append(PrefixTuning(backbone, length=shapes.prefix_len, mid_dim=shapes.mid_dim).to(device))
    copy_prefix(peft_model, methods[0])
    packed = PackedCells(methods)
    sec.notes.append(DROPOUT_NOTE)
    check_prefix_loss(report, sec, peft_model, methods[0], train_batch(b, shapes, vocab, device, 1, ragged=True))
    check_packed(report, sec, packed, methods, train_batch(k * b, shapes, vocab, device, 2, ragged=True), b)

    goal = f">= 8x PEFT tok/s (K={k})"
    small, large = train_batch(b, shapes, vocab, device, 3), train_batch(k * b, shapes, vocab, device, 4)
    step = peft_train_step(peft_model, small, device)
    base = timed_row(report, sec, "PEFT prefix, one cell", "baseline", b, step, b * shapes.seq_len, shapes, device)
    del step
    free_memory(device)
    fuse_activations(backbone)  # what the harness does on a GPU (after the baseline: the backbone is shared)
    what = f"ours: {k} packed cells x batch {b}"
    try:
        step = packed_train_step(packed, methods, large, b, device)
        row = timed_row(report, sec, what, "ours", k * b, step, k * b * shapes.seq_len, shapes, device, base)
        row.goal, row.met = goal, row.ratio is not None and row.ratio >= 8
        say(f"  goal: {row.ratio:.2f}x, met: {row.met}")
    except Exception as err:  # recorded, the run goes on
        error_row(report, sec, what, "ours", k * b, err, goal)


def section_train_b64(report: Report, sec: Section, shapes: Shapes, device: torch.device) -> None:
    backbone = build_gpt2(shapes, device)
    vocab, b = backbone.config.vocab_size, shapes.big_batch
    batch = train_batch(b, shapes, vocab, device, 5)
    peft_model = peft_prefix(backbone, "CAUSAL_LM", shapes.prefix_len, shapes.mid_dim)
    ours = PrefixTuning(backbone, length=shapes.prefix_len, mid_dim=shapes.mid_dim).to(device)
    copy_prefix(peft_model, ours)
    sec.notes.append(DROPOUT_NOTE)
    check_prefix_loss(report, sec, peft_model, ours, train_batch(b, shapes, vocab, device, 6, ragged=True))
    tokens = b * shapes.seq_len
    step = peft_train_step(peft_model, batch, device)
    base = timed_row(report, sec, "PEFT prefix, one cell", "baseline", b, step, tokens, shapes, device)
    del step, peft_model
    free_memory(device)
    fuse_activations(backbone)
    ours_rows = []
    variants = [
        ("ours: fp32 frozen weights, fused AdamW", None),
        ("ours: bf16 frozen weights, fused AdamW", torch.bfloat16),
        ("ours: packed K=1, bf16 frozen weights", "packed"),
    ]
    for what, variant in variants:
        try:
            if variant is torch.bfloat16:
                # Only the frozen backbone goes to bf16; the prefix parameters and AdamW state stay fp32.
                backbone.to(torch.bfloat16)
            if variant == "packed":
                from harness.packed import PackedCells

                step = packed_train_step(PackedCells([ours]), [ours], batch, b, device)
            else:
                step = ours_train_step(ours, batch, device)
            ours_rows.append(timed_row(report, sec, what, "ours", b, step, tokens, shapes, device, base))
            del step
        except Exception as err:
            error_row(report, sec, what, "ours", b, err)
        free_memory(device)
    best = max((r for r in ours_rows if r.ratio is not None), key=lambda r: r.ratio, default=None)
    if best is not None:
        best.goal, best.met = ">= 1.5x PEFT tok/s (best of ours)", best.ratio >= 1.5
        say(f"  goal row: {best.what}: {best.ratio:.2f}x, met: {best.met}")


def decode_rows(ids: torch.Tensor, width: int) -> list[list[int]]:
    return ids[:, width:].tolist()


def peft_decode(peft_model, ids, mask, *, num_beams, new, eos, pad, length_penalty=1.0, skip_start=0) -> list:
    out = peft_model.generate(
        input_ids=ids,
        attention_mask=mask,
        num_beams=num_beams,
        max_new_tokens=new,
        min_new_tokens=new,
        do_sample=False,
        early_stopping=False,
        length_penalty=length_penalty,
        no_repeat_ngram_size=0,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    # Decoder-only output repeats the prompt; encoder-decoder output starts with the decoder start token.
    return decode_rows(out, ids.shape[1] if not skip_start else skip_start)


def ours_decode(method: Method, ids, mask, *, num_beams, new, eos, length_penalty=1.0) -> list:
    return beam_search(
        method,
        ids,
        mask,
        num_beams=num_beams,
        max_new_tokens=new,
        min_new_tokens=new,
        eos_id=eos,
        banned=NO_TOKENS.to(ids.device),
        length_penalty=length_penalty,
    )


def batches(ids: torch.Tensor, mask: torch.Tensor, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, ids.shape[0], size):
        yield ids[start : start + size], mask[start : start + size]


def largest_that_fits(
    sizes: list[int], run: Callable[[int], Any], device: torch.device
) -> tuple[int, Any, float, float | None]:
    """Run at the first batch size that does not run out of memory: (size, result, seconds, peak GiB)."""
    last = ""
    for size in sizes:
        try:
            reset_peak(device)
            result, seconds = wall_s(lambda size=size: run(size), device)
            return size, result, seconds, peak_gib(device)
        except Exception as err:
            if not is_oom(err):
                raise
            say(f"  batch {size} ran out of memory; trying a smaller one")
            last = short(err)  # not the exception: its traceback would keep the failed attempt's tensors alive
        free_memory(device)
    raise RuntimeError(f"every batch size in {sizes} ran out of memory; last: {last}")


def settle(seconds: float, run: Callable[[], Any], device: torch.device) -> float:
    """A first decoding time, or the median of three runs when a run is cheap enough to repeat."""
    if seconds >= 3:
        return seconds
    return statistics.median([seconds, *(wall_s(run, device)[1] for _ in range(2))])


def section_decode_e2e(report: Report, sec: Section, shapes: Shapes, device: torch.device) -> None:
    backbone = build_gpt2(shapes, device).eval()
    vocab, eos, beams, new = backbone.config.vocab_size, backbone.config.eos_token_id, shapes.e2e_beams, shapes.e2e_new
    peft_model = peft_prefix(backbone, "CAUSAL_LM", shapes.prefix_len, shapes.mid_dim).eval()
    ours = PrefixTuning(backbone, length=shapes.prefix_len, mid_dim=shapes.mid_dim).to(device).eval()
    copy_prefix(peft_model, ours)
    # Equality: same prompts (left-padded together), same weights, fp32.
    ids, mask = (t.to(device) for t in _left_pad(prompts(shapes.check_inputs, shapes.e2e_len, vocab, 6), eos))
    common = dict(num_beams=beams, new=shapes.check_new, eos=eos)
    theirs = peft_decode(peft_model, ids, mask, pad=eos, **common)
    mine = ours_decode(ours, ids, mask, **common)
    check_same_ids(report, sec, f"check: fp32 beam {beams} ids, ours == PEFT generate", mine, theirs)

    # Speed: bf16 weights on both sides (inference); ours with the exported (projected) prefix, as decoding runs.
    ours.load_export(ours.export_state())
    ours.to(torch.bfloat16)  # the shared backbone too; PEFT casts its prefix to the backbone's dtype itself
    ids, mask = (t.to(device) for t in _left_pad(prompts(shapes.e2e_inputs, shapes.e2e_len, vocab, 7), eos))
    n, common = ids.shape[0], dict(num_beams=beams, new=new, eos=eos)
    peft_decode(peft_model, ids[:8], mask[:8], num_beams=beams, new=2, eos=eos, pad=eos)  # warm-up
    reset_peak(device)
    chunks = list(batches(ids, mask, shapes.e2e_peft_batch))
    _, seconds = wall_s(lambda: [peft_decode(peft_model, i, m, pad=eos, **common) for i, m in chunks], device)
    base = report.add(
        sec,
        Row(
            f"PEFT prefix generate, beam {beams}, {new} new tokens",
            "baseline",
            batch=f"{shapes.e2e_peft_batch} ({n} inputs)",
            total_s=seconds,
            throughput=n / seconds,
            unit="seq/s",
            peak_gib=peak_gib(device),
        ),
    )
    free_memory(device)
    goal = f"<= {shapes.e2e_goal_s} s total"
    what = f"ours beam_search, beam {beams}, {new} new tokens"
    fuse_activations(backbone)
    try:
        ours_decode(ours, ids[:8], mask[:8], num_beams=beams, new=2, eos=eos)  # warm-up
        sizes = [n, n // 2, n // 3, n // 5, n // 10]

        def run(size: int) -> list:
            return [ours_decode(ours, i, m, **common) for i, m in batches(ids, mask, size)]

        size, _, seconds, peak = largest_that_fits([s for s in sizes if s >= 1], run, device)
        seconds = settle(seconds, lambda: run(size), device)
        row = report.add(
            sec,
            Row(
                what,
                "ours",
                batch=f"{size} ({n} inputs)",
                total_s=seconds,
                throughput=n / seconds,
                unit="seq/s",
                peak_gib=peak,
                ratio=(n / seconds) / base.throughput,
                goal=goal,
                met=seconds <= shapes.e2e_goal_s,
            ),
        )
        say(f"  goal: {row.total_s:.2f} s, met: {row.met}")
    except Exception as err:
        error_row(report, sec, what, "ours", n, err, goal)
        return
    if device.type == "cuda":
        attention_backends(report, sec, lambda: run(size), n, base.throughput)


def attention_backends(report: Report, sec: Section, run: Callable[[], Any], n: int, base: float) -> None:
    """The same decode under each of PyTorch's attention kernels (the default picked cuDNN's flash kernel, made
    for long queries; a decode step has one): information for choosing one, not a goal row."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    device = torch.device("cuda")
    for backend in (SDPBackend.EFFICIENT_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.MATH):
        what = f"  same, attention forced to {backend.name}"
        try:
            with sdpa_kernel(backend):
                reset_peak(device)
                _, seconds = wall_s(run, device)
            report.add(
                sec,
                Row(
                    what,
                    "ours",
                    batch=str(n),
                    total_s=seconds,
                    throughput=n / seconds,
                    unit="seq/s",
                    peak_gib=peak_gib(device),
                    ratio=(n / seconds) / base,
                ),
            )
        except Exception as err:  # a backend may refuse these shapes or masks: recorded, the run goes on
            error_row(report, sec, what, "ours", n, err)
        free_memory(device)


def section_decode_xsum(report: Report, sec: Section, shapes: Shapes, device: torch.device) -> None:
    bart = build_bart(shapes, device).eval()
    config = bart.config
    vocab, eos, pad = config.vocab_size, config.eos_token_id, config.pad_token_id
    beams, new, lp = shapes.xsum_beams, shapes.xsum_new, shapes.xsum_length_penalty
    peft_model = peft_prefix(bart, "SEQ_2_SEQ_LM", shapes.xsum_prefix_len, shapes.mid_dim).eval()
    sec.notes.append(
        "PEFT's prefix on BART reaches the decoder's self-attention only (it drops the cross-attention copy); "
        "Li & Liang's, which the harness follows, also prefixes the encoder and the cross-attention, so prefixed "
        "outputs are not comparable: the equality check is on the bare backbone (our beam search vs generate)"
    )

    def sources(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        ids = torch.randint(3, vocab - 1, (n, shapes.xsum_source_len), generator=gen)
        return ids.to(device), torch.ones_like(ids, device=device)

    common = dict(num_beams=beams, eos=eos, length_penalty=lp)
    what = f"check: fp32 beam {beams} ids, ours == BART generate (bare backbone)"
    verified = False
    try:
        ids, mask = sources(shapes.check_inputs, 8)
        theirs = peft_decode(bart, ids, mask, new=shapes.check_new, pad=pad, skip_start=1, **common)
        bare = build_method({"type": "finetune"}, bart).eval()  # no method state: the backbone as it is
        mine = ours_decode(bare, ids, mask, new=shapes.check_new, **common)
        verified = check_same_ids(report, sec, what, mine, theirs)
    except Exception as err:
        error_row(report, sec, what, "check", shapes.check_inputs, err, "100%", unavailable=True)

    bart.to(torch.bfloat16)
    n = shapes.xsum_peft_docs
    ids, mask = sources(n, 9)
    peft_decode(peft_model, ids[:2], mask[:2], new=2, pad=pad, skip_start=1, **common)  # warm-up
    reset_peak(device)
    _, seconds = wall_s(lambda: peft_decode(peft_model, ids, mask, new=new, pad=pad, skip_start=1, **common), device)
    base = report.add(
        sec,
        Row(
            f"PEFT prefix generate, beam {beams}, {new} new tokens, lp {lp}",
            "baseline",
            batch=str(n),
            total_s=seconds,
            throughput=n / seconds,
            unit="seq/s",
            peak_gib=peak_gib(device),
        ),
    )
    free_memory(device)  # PEFT's prefix encoder is small; the backbone is shared with ours

    goal = ">= 10x PEFT seq/s"
    what = f"ours beam_search, beam {beams}, {new} new tokens, lp {lp}"
    try:
        # build_method picks the encoder-decoder prefix (encoder, decoder and cross-attention prefixes).
        spec = {"type": "prefix", "length": shapes.xsum_prefix_len, "mid_dim": shapes.mid_dim}
        ours = build_method(spec, bart).to(device).eval()
        ours.load_export(ours.export_state())
        ours_decode(ours, ids[:2], mask[:2], new=2, **common)  # warm-up
        most = max(shapes.xsum_ours_docs)
        ids, mask = sources(most, 10)

        def run(size: int) -> list:
            return ours_decode(ours, ids[:size], mask[:size], new=new, **common)

        size, _, seconds, peak = largest_that_fits(list(shapes.xsum_ours_docs), run, device)
        rate = size / settle(seconds, lambda: run(size), device)
        row = report.add(
            sec,
            Row(
                what,
                "ours",
                batch=str(size),
                total_s=size / rate,
                throughput=rate,
                unit="seq/s",
                peak_gib=peak,
                ratio=rate / base.throughput,
                goal=goal,
                # A speed of a search that did not reproduce generate() on the bare backbone proves nothing.
                met=rate / base.throughput >= 10 if verified else None,
                note="" if verified else "unverified: the bare-backbone equality check did not pass",
            ),
        )
        say(f"  goal: {row.ratio:.2f}x, met: {row.met}")
    except Exception as err:
        error_row(report, sec, what, "ours", shapes.xsum_ours_docs[0], err, goal, unavailable=True)


SECTIONS: list[tuple[str, str, Callable[[Report, Section, Shapes, torch.device], None]]] = [
    ("train_packed", "1. prefix-tuning training, batch 5: PEFT one cell vs ours K packed", section_train_packed),
    ("train_b64", "2. prefix-tuning training, one cell at the large batch", section_train_b64),
    ("decode_e2e", "3. E2E-shaped decoding, GPT-2-medium shape, beam 5", section_decode_e2e),
    ("decode_xsum", "4. XSUM-shaped decoding, BART-large shape, beam 6", section_decode_xsum),
]


# -- run -------------------------------------------------------------------------------------------------


def git(*args: str) -> str:
    """A git command's output in the repository, or "" where there is no git or no .git (a copied tree)."""
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def environment(device: torch.device, small: bool) -> dict:
    import transformers

    try:
        import peft

        peft_version = peft.__version__
    except ImportError:
        peft_version = None
    commit, dirty = git("rev-parse", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
    return {
        "card": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})",
        "device": str(device),
        "small": small,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "peft": peft_version,
        "python": platform.python_version(),
        "git_commit": commit or None,
        "git_dirty": bool(dirty) if commit else None,  # uncommitted edits: the commit alone does not name the code
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def out_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("OUT"):
        return Path(os.environ["OUT"])
    return REPO / "bench" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny shapes on CPU (what CI runs)")
    parser.add_argument("--out", help="folder for gpu_bench*.json/.md (default: $OUT, else bench/results/)")
    parser.add_argument("--only", nargs="*", choices=[name for name, _, _ in SECTIONS], help="run only these")
    parser.add_argument("--device", help="cuda or cpu (default: cuda when available, cpu for --small)")
    args = parser.parse_args(argv)
    shapes = SMALL if args.small else FULL
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() and not args.small else "cpu"))
    if device.type == "cpu" and not args.small:
        say("warning: full shapes on CPU will take very long; use --small")
    warnings.filterwarnings("ignore")
    torch.set_float32_matmul_precision("highest")  # the fp32 equality checks must not run in TF32
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    stem = "gpu_bench_small" if args.small else "gpu_bench"
    report = Report(out_dir(args.out), stem, environment(device, args.small))
    env = report.env
    say(f"{env['card']} | torch {env['torch']} | transformers {env['transformers']} | peft {env['peft']}")
    say(HEADER)
    say("|---|---|---|---|---|---|---|---|")
    for name, title, run in SECTIONS:
        if args.only and name not in args.only:
            continue
        sec = report.open(name, title)
        start = time.perf_counter()
        try:
            with time_limit(shapes.section_limit_s[name]):
                run(report, sec, shapes, device)
        except (Exception, SectionTimeout) as err:  # one broken section must not cost the others their numbers
            traceback.print_exception(err, file=sys.stderr)
            sec.error = short(err)
            say(f"| section failed | | | {sec.error} | | | | |")
        sec.elapsed_s = round(time.perf_counter() - start, 1)
        say(f"  ({name}: {sec.elapsed_s:.1f} s)")
        free_memory(device)
        report.save()
    say("")
    say(report.table())
    say(f"\nwritten: {report.json_path} ({env['elapsed_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
