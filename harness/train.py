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
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from harness import seq2seq
from harness.errors import TrainingError
from harness.generate import prompt_ids
from harness.io import atomic_write_json, read_jsonl
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


def batch_loss(method: Method, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over target tokens (next-token prediction, labels shifted by one)."""
    if "decoder_input_ids" in batch:  # an encoder-decoder batch (harness.seq2seq)
        return seq2seq.batch_loss(method, batch)
    logits = method(batch["input_ids"], batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100
    )


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


def train_cell(
    cell, data_dir: Path, cell_dir: Path, on_step: Callable[[int, float], None] | None = None
) -> dict:
    """Train one cell; write its trainable state, a JSONL log and provenance into `cell_dir`."""
    cfg = cell.train
    state_dir = cell_dir / STATE_DIR
    ckpt_dir = state_dir / CHECKPOINT_DIR
    log_path = cell_dir / "train_log.jsonl"
    device = pick_device()
    cell_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cell.seed)
    random.seed(cell.seed)

    from harness.models import load_backbone  # heavy import, only when training

    model, tokenizer = load_backbone(cell.model_spec)
    method = build_method(cell.method_spec, model).to(device)
    rows = read_jsonl(data_dir / "train.jsonl")
    if not rows:
        raise TrainingError(
            f"{data_dir / 'train.jsonl'} has no rows; re-run the prepare step for this dataset"
        )
    encode, collate_rows = encode_example, collate
    if seq2seq.is_encoder_decoder(model):  # source -> encoder, target -> decoder
        start = seq2seq.decoder_start_id(model.config)
        encode, collate_rows = seq2seq.encode_example, partial(seq2seq.collate, decoder_start=start)
    examples = [encode(tokenizer, r["source"], r["target"], cfg["max_length"]) for r in rows]
    cut = sum(all(label == -100 for label in labels) for _, labels in examples)
    if cut:
        raise TrainingError(
            f"cell {cell.id}: {cut} of {len(examples)} training examples lose their whole target to "
            f"train.max_length={cfg['max_length']}; raise train.max_length"
        )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    # Methods whose starting state needs the vocabulary or the data: prompt tuning's vocab/class-label inits,
    # prompt design's demonstrations. Before any checkpoint is loaded, so a resumed state wins.
    if hasattr(method, "prepare"):
        method.prepare(tokenizer, rows)

    micro_per_epoch = math.ceil(len(examples) / cfg["batch_size"])
    steps_per_epoch = math.ceil(micro_per_epoch / cfg["grad_accum"])
    params = method.trainable_parameters()
    # Nothing to train (prompt design): no step runs, the export and trained.json are written as for any cell.
    total_steps = (cfg["max_steps"] or steps_per_epoch * cfg["epochs"]) if params else 0
    # One explicit parameter group: AdamW refuses an empty parameter list, but not an empty group.
    optimizer = torch.optim.AdamW([{"params": params}], lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    scheduler = get_linear_schedule_with_warmup(optimizer, cfg["warmup_steps"], total_steps)

    step = 0
    if ckpt_dir.exists():
        step = _load_checkpoint(ckpt_dir, method, optimizer, scheduler)
        _truncate_log(log_path, step)
        print(f"resuming {cell.id} from its checkpoint at step {step}/{total_steps}", file=sys.stderr)
    elif log_path.exists():
        log_path.unlink()

    method.train()
    started = time.time()
    bar = tqdm(total=total_steps, initial=step, desc=f"train {cell.id}", disable=None)
    loss_sum, micro_in_step = 0.0, 0
    while step < total_steps:
        epoch = step // steps_per_epoch
        order = epoch_order(len(examples), cell.seed, epoch)
        first_micro = (step % steps_per_epoch) * cfg["grad_accum"]
        for micro in range(first_micro, micro_per_epoch):
            chunk = order[micro * cfg["batch_size"] : (micro + 1) * cfg["batch_size"]]
            batch = {k: v.to(device) for k, v in collate_rows([examples[i] for i in chunk], pad_id).items()}
            with _autocast(device, cfg["precision"]):
                loss = batch_loss(method, batch)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"cell {cell.id}: loss is {loss.item()} at step {step} (lr={scheduler.get_last_lr()[0]:.3g}); "
                    "lower train.lr, raise warmup_steps or use precision: fp32. The cell has no trained state "
                    "(only an earlier resume checkpoint, if any); other cells are untouched."
                )
            (loss / cfg["grad_accum"]).backward()
            loss_sum += loss.item()
            micro_in_step += 1
            if micro_in_step < cfg["grad_accum"] and micro + 1 < micro_per_epoch:
                continue
            torch.nn.utils.clip_grad_norm_(method.trainable_parameters(), cfg["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            mean_loss = loss_sum / micro_in_step
            loss_sum, micro_in_step = 0.0, 0
            bar.update(1)
            bar.set_postfix(loss=f"{mean_loss:.3f}")
            if step % cfg["log_every"] == 0 or step == total_steps:
                with log_path.open("a") as log:
                    log.write(
                        json.dumps(
                            {
                                "step": step,
                                "epoch": epoch,
                                "loss": mean_loss,
                                "lr": scheduler.get_last_lr()[0],
                                "elapsed_s": round(time.time() - started, 2),
                            }
                        )
                        + "\n"
                    )
            if cfg["checkpoint_every"] and step % cfg["checkpoint_every"] == 0 and step < total_steps:
                _save_checkpoint(ckpt_dir, method, optimizer, scheduler, step)
            if on_step is not None:
                on_step(step, mean_loss)
            if step >= total_steps:
                break
    bar.close()

    method.save_export(state_dir)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    summary = {
        "cell": cell.id,
        "steps": step,
        "epochs": cfg["epochs"],
        "examples": len(examples),
        "trainable_parameters": sum(p.numel() for p in method.trainable_parameters()),
        "exported_values": sum(t.numel() for t in method.export_state().values()),
        "seconds": round(time.time() - started, 2),
        "device": str(device),
    }
    from harness.provenance import collect

    atomic_write_json(cell_dir / "provenance.json", collect(cell=cell_as_dict(cell), training=summary))
    atomic_write_json(state_dir / DONE_FILE, summary)
    return summary


def cell_as_dict(cell) -> dict:
    return {"id": cell.id, **asdict(cell)}
