"""The training loop: one cell, top to bottom (AdamW, linear schedule, accumulation, checkpoint/resume).

Resume is exact: a checkpoint holds the method's trainable tensors, optimizer, scheduler, step and RNG
states, and the data order of every epoch is a pure function of (seed, epoch), so an interrupted run
resumed from its last checkpoint ends in the same state as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from harness import seq2seq
from harness.errors import TrainingError
from harness.generate import prompt_ids
from harness.io import atomic_write_json, read_jsonl
from harness.loss import batch_loss
from harness.methods import Method, build_method

STATE_DIR = "state"
CHECKPOINT_DIR = "checkpoint"
DONE_FILE = "trained.json"  # written last: its presence means the cell's training finished


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def encode_example(
    tokenizer: PreTrainedTokenizerBase, source: str, target: str, max_length: int
) -> tuple[list[int], list[int]]:
    """Token ids and labels for `source <sep> target <eos>`; the loss covers the target and EOS only."""
    context = prompt_ids(tokenizer, source)
    answer = tokenizer(" " + target.strip(), add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    ids = (context + answer)[:max_length]
    labels = ([-100] * len(context) + answer)[:max_length]
    return ids, labels


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    # Right padding: with causal attention, pads after the last real token change nothing before it.
    width = max(len(ids) for ids, _ in examples)
    batch = {
        "input_ids": torch.full((len(examples), width), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(examples), width), dtype=torch.long),
        "labels": torch.full((len(examples), width), -100, dtype=torch.long),
    }
    for i, (ids, labels) in enumerate(examples):
        batch["input_ids"][i, : len(ids)] = torch.tensor(ids)
        batch["attention_mask"][i, : len(ids)] = 1
        batch["labels"][i, : len(labels)] = torch.tensor(labels)
    return batch


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


def _autocast(device: torch.device, precision: str):
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16) if use_bf16 else nullcontext()


def _save_checkpoint(path: Path, method: Method, optimizer, scheduler, step: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save(
        {
            "trainable": method.trainable_state(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "rng": {
                "torch": torch.get_rng_state(),
                "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
        },
        tmp / "checkpoint.pt",
    )
    shutil.rmtree(path, ignore_errors=True)
    tmp.replace(path)


def _load_checkpoint(path: Path, method: Method, optimizer, scheduler) -> int:
    state = torch.load(path / "checkpoint.pt", weights_only=False)
    method.load_trainable_state(state["trainable"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    random.setstate(state["rng"]["python"])
    if state["rng"]["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return state["step"]


def _truncate_log(log_path: Path, step: int) -> None:
    """On resume, drop log lines written after the checkpoint: they will be written again."""
    if log_path.exists():
        kept = [line for line in log_path.read_text().splitlines() if json.loads(line)["step"] <= step]
        log_path.write_text("".join(line + "\n" for line in kept))


@dataclass
class CellRun:
    """One cell's training state: its examples, optimizer, schedule, step counter, log and checkpoint.

    The single-cell loop (`train_cell`) and the packed loop (`train_pack`) drive the same object, so a cell
    trained in a pack keeps exactly its own optimizer state, schedule, log, checkpoints and outputs.
    """

    cell: Any
    method: Method
    cell_dir: Path
    examples: list[tuple[list[int], list[int]]]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    total_steps: int
    steps_per_epoch: int
    micro_per_epoch: int
    collate: Callable[[list, int], dict[str, torch.Tensor]]  # examples -> padded batch (decoder-only or seq2seq)
    step: int = 0
    started: float = field(default_factory=time.time)
    loss_sum: float = 0.0
    micro_in_step: int = 0
    packed_with: list[str] = field(default_factory=list)  # the other cells of its pack, for provenance
    fused_activations: int = 0  # GPT-2 GELUs swapped for the fused kernel (GPU only), for provenance

    @property
    def cfg(self) -> dict:
        return self.cell.train

    @property
    def log_path(self) -> Path:
        return self.cell_dir / "train_log.jsonl"

    @property
    def ckpt_dir(self) -> Path:
        return self.cell_dir / STATE_DIR / CHECKPOINT_DIR

    def micro_batches(self):
        """Yield (example indices, whether this micro-batch completes an optimizer step), from `self.step` on.

        The order of every epoch is a pure function of (seed, epoch), so a resumed run continues exactly.
        """
        step, accum = self.step, self.cfg["grad_accum"]
        while step < self.total_steps:
            order = epoch_order(len(self.examples), self.cell.seed, step // self.steps_per_epoch)
            in_step = 0
            for micro in range((step % self.steps_per_epoch) * accum, self.micro_per_epoch):
                in_step += 1
                ends = in_step == accum or micro + 1 == self.micro_per_epoch
                yield order[micro * self.cfg["batch_size"] : (micro + 1) * self.cfg["batch_size"]], ends
                if ends:
                    step, in_step = step + 1, 0
                    if step >= self.total_steps:
                        return

    def diverged(self, loss: float) -> TrainingError:
        return TrainingError(
            f"cell {self.cell.id}: loss is {loss} at step {self.step} (lr={self.scheduler.get_last_lr()[0]:.3g}); "
            "lower train.lr, raise warmup_steps or use precision: fp32. The cell has no trained state "
            "(only an earlier resume checkpoint, if any); other cells are untouched."
        )

    def end_step(self) -> float:
        """Clip, step the optimizer and schedule, log and checkpoint; return the step's mean loss."""
        torch.nn.utils.clip_grad_norm_(self.method.trainable_parameters(), self.cfg["max_grad_norm"])
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        mean_loss = self.loss_sum / self.micro_in_step
        self.loss_sum, self.micro_in_step = 0.0, 0
        if self.step % self.cfg["log_every"] == 0 or self.step == self.total_steps:
            record = {
                "step": self.step,
                "epoch": (self.step - 1) // self.steps_per_epoch,
                "loss": mean_loss,
                "lr": self.scheduler.get_last_lr()[0],
                "elapsed_s": round(time.time() - self.started, 2),
            }
            with self.log_path.open("a") as log:
                log.write(json.dumps(record) + "\n")
        every = self.cfg["checkpoint_every"]
        if every and self.step % every == 0 and self.step < self.total_steps:
            _save_checkpoint(self.ckpt_dir, self.method, self.optimizer, self.scheduler, self.step)
        return mean_loss


def start_run(
    cell,
    method: Method,
    tokenizer: PreTrainedTokenizerBase,
    data_dir: Path,
    cell_dir: Path,
    encoded: dict | None = None,
) -> CellRun:
    """Encode a cell's training data, build its optimizer and schedule, and resume from its checkpoint.

    `encoded` (a pack's): data already read and encoded for earlier cells, by (data folder, max_length), so
    the seeds of a pack that share a data variant tokenise it once.
    """
    cfg = cell.train
    cell_dir.mkdir(parents=True, exist_ok=True)
    encode, collate_rows = encode_example, collate
    if seq2seq.is_encoder_decoder(method.backbone):  # source -> encoder, target -> decoder
        start = seq2seq.decoder_start_id(method.backbone.config)
        encode, collate_rows = seq2seq.encode_example, partial(seq2seq.collate, decoder_start=start)
    encoded = {} if encoded is None else encoded
    key = (str(data_dir), cfg["max_length"])
    if key not in encoded:
        rows = read_jsonl(data_dir / "train.jsonl")
        if not rows:
            raise TrainingError(f"{data_dir / 'train.jsonl'} has no rows; re-run the prepare step for this dataset")
        encoded[key] = (rows, [encode(tokenizer, r["source"], r["target"], cfg["max_length"]) for r in rows])
    rows, examples = encoded[key]
    cut = sum(all(label == -100 for label in labels) for _, labels in examples)
    if cut:
        raise TrainingError(
            f"cell {cell.id}: {cut} of {len(examples)} training examples lose their whole target to "
            f"train.max_length={cfg['max_length']}; raise train.max_length"
        )
    # Methods whose starting state needs the vocabulary or the data: prompt tuning's vocab/class-label inits,
    # prompt design's demonstrations. Before any checkpoint is loaded, so a resumed state wins.
    if hasattr(method, "prepare"):
        method.prepare(tokenizer, rows)

    micro_per_epoch = math.ceil(len(examples) / cfg["batch_size"])
    steps_per_epoch = math.ceil(micro_per_epoch / cfg["grad_accum"])
    params = method.trainable_parameters()
    # Nothing to train (prompt design): no step runs, the export and trained.json are written as for any cell.
    total_steps = (cfg["max_steps"] or steps_per_epoch * cfg["epochs"]) if params else 0
    # One explicit parameter group: AdamW refuses an empty parameter list, but not an empty group. On a GPU the
    # fused kernel: one launch per step instead of one per tensor (same update rule).
    fused = bool(params) and all(p.is_cuda for p in params)
    optimizer = torch.optim.AdamW(
        [{"params": params}], lr=cfg["lr"], weight_decay=cfg["weight_decay"], fused=fused or None
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, cfg["warmup_steps"], total_steps)
    run = CellRun(
        cell,
        method,
        cell_dir,
        examples,
        optimizer,
        scheduler,
        total_steps,
        steps_per_epoch,
        micro_per_epoch,
        collate_rows,
    )
    if run.ckpt_dir.exists():
        run.step = _load_checkpoint(run.ckpt_dir, method, optimizer, scheduler)
        _truncate_log(run.log_path, run.step)
        print(f"resuming {cell.id} from its checkpoint at step {run.step}/{total_steps}", file=sys.stderr)
    elif run.log_path.exists():
        run.log_path.unlink()
    method.train()
    return run


def finish_run(run: CellRun, device: torch.device, done_file: str = DONE_FILE) -> dict:
    """Write the cell's export, then its provenance and (last) `done_file`; drop its resume checkpoint.

    A cell trained by a pack job (`harness.packs`) writes both into one `state/packed.json` instead: its
    per-cell job publishes them as provenance.json and trained.json, the outputs Snakemake tracks.
    """
    state_dir = run.cell_dir / STATE_DIR
    run.method.save_export(state_dir)
    shutil.rmtree(run.ckpt_dir, ignore_errors=True)
    summary = {
        "cell": run.cell.id,
        "steps": run.step,
        "epochs": run.cfg["epochs"],
        "examples": len(run.examples),
        "trainable_parameters": sum(p.numel() for p in run.method.trainable_parameters()),
        "exported_values": sum(t.numel() for t in run.method.export_state().values()),
        "seconds": round(time.time() - run.started, 2),
        "device": str(device),
        "fused_activations": run.fused_activations,
    }
    from harness.provenance import collect

    if done_file == DONE_FILE:
        atomic_write_json(run.cell_dir / "provenance.json", collect(cell=cell_as_dict(run.cell), training=summary))
        atomic_write_json(state_dir / DONE_FILE, summary)
    else:
        summary["packed_with"] = run.packed_with
        provenance = collect(cell=cell_as_dict(run.cell), training=summary)
        atomic_write_json(state_dir / done_file, {"summary": summary, "provenance": provenance})
    return summary


def _seeded_method(cell, backbone) -> Method:
    # Seeded right before the method is built: its initial state depends on the cell's seed alone, not on what
    # was loaded or built before it (so a cell built inside a pack starts where its own run starts).
    torch.manual_seed(cell.seed)
    random.seed(cell.seed)
    return build_method(cell.method_spec, backbone)


def train_cell(cell, data_dir: Path, cell_dir: Path, on_step: Callable[[int, float], None] | None = None) -> dict:
    """Train one cell; write its trainable state, a JSONL log and provenance into `cell_dir`."""
    device = pick_device()
    from harness.models import fast_kernels, load_backbone  # heavy import, only when training

    model, tokenizer = load_backbone(cell.model_spec)
    fused = fast_kernels(model, device)
    method = _seeded_method(cell, model).to(device)
    run = start_run(cell, method, tokenizer, data_dir, cell_dir)
    run.fused_activations = fused
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    bar = tqdm(total=run.total_steps, initial=run.step, desc=f"train {cell.id}", disable=None)
    for chunk, ends in run.micro_batches():
        batch = {k: v.to(device) for k, v in run.collate([run.examples[i] for i in chunk], pad_id).items()}
        with _autocast(device, run.cfg["precision"]):
            loss = batch_loss(method, batch)
        if not torch.isfinite(loss):
            raise run.diverged(loss.item())
        (loss / run.cfg["grad_accum"]).backward()
        run.loss_sum += loss.item()
        run.micro_in_step += 1
        if ends:
            mean_loss = run.end_step()
            bar.update(1)
            bar.set_postfix(loss=f"{mean_loss:.3f}")
            if on_step is not None:
                on_step(run.step, mean_loss)
    bar.close()
    return finish_run(run, device)


def train_pack(
    cells: list,
    data_dirs: list[Path],
    cell_dirs: list[Path],
    on_step: Callable[[str, int, float], None] | None = None,
    done_file: str = DONE_FILE,
) -> list[dict | TrainingError]:
    """Train K cells of one packable method over one frozen backbone, one shared batch per micro-step.

    Each micro-step takes every unfinished cell's own next micro-batch (its seed's data order, its batch size),
    runs them as one batch, and gives each cell the gradient of its own rows' loss; each cell then steps its
    own optimizer and schedule, logs and checkpoints as `train_cell` does. A cell whose loss diverges drops
    out with its error; the others go on. Returns each cell's summary or error, in order.
    """
    from harness.loss import per_cell_loss
    from harness.models import fast_kernels, load_backbone
    from harness.packed import PackedCells

    device = pick_device()
    model, tokenizer = load_backbone(cells[0].model_spec)
    fused = fast_kernels(model, device)
    encoded: dict = {}
    runs = [
        start_run(cell, _seeded_method(cell, model).to(device), tokenizer, data_dir, cell_dir, encoded)
        for cell, data_dir, cell_dir in zip(cells, data_dirs, cell_dirs, strict=True)
    ]
    for run in runs:
        run.packed_with = [c.id for c in cells if c.id != run.cell.id]
        run.fused_activations = fused
    packed = PackedCells([run.method for run in runs])
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    precision = runs[0].cfg["precision"]
    results: list[dict | TrainingError | None] = [None] * len(runs)
    streams = {i: run.micro_batches() for i, run in enumerate(runs)}
    bar = tqdm(
        total=sum(r.total_steps for r in runs), initial=sum(r.step for r in runs), desc="train pack", disable=None
    )
    while streams:
        parts = []
        for i, stream in list(streams.items()):
            nxt = next(stream, None)
            if nxt is None:
                del streams[i]
            else:
                parts.append((i, *nxt))
        if not parts:
            break
        examples = [runs[i].examples[e] for i, chunk, _ in parts for e in chunk]
        owner = torch.tensor([i for i, chunk, _ in parts for _ in chunk], device=device)
        batch = {k: v.to(device) for k, v in runs[0].collate(examples, pad_id).items()}
        with _autocast(device, precision):
            losses = per_cell_loss(packed, batch, owner, k=len(runs))
        values = losses.detach().tolist()  # one device sync per micro-step, as train_cell's loss.item()
        total = losses.new_zeros(())
        for i, _, _ in parts:
            if not math.isfinite(values[i]):
                results[i] = runs[i].diverged(values[i])
                streams.pop(i, None)
                continue
            total = total + losses[i] / runs[i].cfg["grad_accum"]
        if total.requires_grad:
            total.backward()
        for i, _, ends in parts:
            if results[i] is not None:
                continue
            runs[i].loss_sum += values[i]
            runs[i].micro_in_step += 1
            if ends:
                mean_loss = runs[i].end_step()
                bar.update(1)
                if on_step is not None:
                    on_step(runs[i].cell.id, runs[i].step, mean_loss)
    bar.close()
    for i, run in enumerate(runs):
        if results[i] is None:
            results[i] = finish_run(run, device, done_file)
    return results


def cell_as_dict(cell) -> dict:
    return {"id": cell.id, **asdict(cell)}
