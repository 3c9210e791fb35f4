"""The training loss, once for every caller: one cell (`harness.train`), packed cells (`harness.packed`),
decoder-only and encoder-decoder batches alike.

Mean cross-entropy over target tokens (labels -100 are ignored). Decoder-only logits at t predict token t + 1
(shifted); an encoder-decoder's decoder logits at t predict labels[t]. Where a method's logits stay on their
input positions, only the positions from the batch's first target token on are computed (`logits_to_keep`):
the LM head is a large part of a step (1024 x 50,257 per token for GPT-2 medium) and sources carry no loss.
"""

from __future__ import annotations

import torch
from torch import nn

from harness import seq2seq


def logits_to_keep(method, labels: torch.Tensor) -> dict:
    """`{"logits_to_keep": n}` when only the last n positions' logits are needed (from the one before the
    batch's first target token on), else {}. The kept logits are exactly those of the full computation."""
    lead = getattr(method, "lead", method)  # a PackedCells: its cells share one structure
    targets = (labels != -100).any(0)
    if not lead.aligned_logits or not targets.any():
        return {}
    start = max(int(targets.int().argmax()) - 1, 0)
    return {"logits_to_keep": labels.shape[1] - start} if start else {}


def token_losses(logits: torch.Tensor, labels: torch.Tensor, shift: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed cross-entropy per row, number of target tokens per row)."""
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    losses = nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100, reduction="none"
    ).view(labels.shape)
    return losses.sum(-1), (labels != -100).sum(-1)


def row_losses(model, batch: dict[str, torch.Tensor], *args) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `model(input_ids, attention_mask, *args, ...)` (a method, or packed cells with their row-to-cell
    index in `args`) on a training batch: (summed target cross-entropy per row, target tokens per row)."""
    decoder = seq2seq.decoder_inputs(batch)  # empty for a decoder-only batch
    keep = {} if decoder else logits_to_keep(model, batch["labels"])
    logits = model(batch["input_ids"], batch["attention_mask"], *args, **decoder, **keep).logits
    labels = batch["labels"][:, batch["labels"].shape[1] - logits.shape[1] :]  # the kept positions' labels
    return token_losses(logits, labels, shift=not decoder)


def batch_loss(method, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over the batch's target tokens."""
    row_sum, row_count = row_losses(method, batch)
    return row_sum.sum() / row_count.sum()


def per_cell_loss(packed, batch: dict[str, torch.Tensor], cells: torch.Tensor, k: int) -> torch.Tensor:
    """Mean target-token cross-entropy of each cell's rows: [K] (NaN for a cell with no rows in the batch).

    Each entry is what `batch_loss` gives for that cell's rows alone, so summing the entries and calling
    backward once gives every cell the gradient of its own separate run.
    """
    row_sum, row_count = row_losses(packed, batch, cells)
    return row_sum.new_zeros(k).index_add(0, cells, row_sum) / row_count.new_zeros(k).index_add(0, cells, row_count)
