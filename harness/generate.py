"""Decoding: batched beam search and greedy search over any method.

The search is our own rather than `model.generate()`: generate() assumes every cached key belongs to an
input token, which a learned prefix breaks (the original Prefix-Tuning repo had to patch transformers for
it, PrefixTuning#37, and PEFT keeps re-fixing it across Cache refactors). The beam search reproduces
transformers' algorithm step for step (top-2K continuations, finished hypotheses scored by
sum-logprob / generated_length ** length_penalty, the same early-stop heuristic); a test checks that
on a bare backbone it returns exactly what `generate(num_beams=K)` returns.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase

from harness import seq2seq
from harness.decode_cache import grown, step_attention
from harness.methods import Method

NEG = -1.0e9  # the "impossible" score transformers uses; kept identical so ties break the same way


@lru_cache(maxsize=4)
def _newline_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[int, ...]:
    # The paper bans GPT-2's "\n" and "\n\n" tokens; in general: every token whose text has a newline.
    return tuple(i for i in range(len(tokenizer)) if "\n" in tokenizer.decode([i]))


def prompt_ids(tokenizer: PreTrainedTokenizerBase, source: str) -> list[int]:
    """The conditioning context: source tokens then a separator token (BOS, or EOS where BOS is absent)."""
    sep = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return tokenizer(source, add_special_tokens=False).input_ids + [sep]


def _left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return ids, mask


class _Stepper:
    """Holds the cache, mask and positions of a running batch and advances them one token at a time.

    The prefill runs once per input; its cache, mask and positions are then repeated for `beams` rows per
    input, in a cache with room for `room` new tokens (`harness.decode_cache`)."""

    def __init__(
        self,
        method: Method,
        ids: torch.Tensor,
        mask: torch.Tensor,
        cells: torch.Tensor | None = None,
        beams: int = 1,
        room: int | None = None,
    ) -> None:
        self.method = method
        # Packed cells (harness.packed): each row's own prefix/prompt goes into the prefill; the cache then
        # carries it through every step, so stepping needs no method state.
        inputs = method.model_inputs(ids, mask) if cells is None else method.model_inputs(ids, mask, cells)
        # Only the last position's logits are needed: a [rows, T, vocab] tensor would dominate prefill memory.
        out = method.backbone(**inputs, use_cache=True, logits_to_keep=1)
        self.cache = out.past_key_values
        if room is not None:
            self.cache = grown(self.cache, beams, room)
        elif beams > 1:
            self.cache.batch_repeat_interleave(beams)
        self.mask = inputs["attention_mask"].repeat_interleave(beams, 0)
        self.next_pos = inputs["position_ids"][:, -1].repeat_interleave(beams, 0) + 1
        self.logits = out.logits[:, -1, :].repeat_interleave(beams, 0)

    def step(self, tokens: torch.Tensor, reorder: torch.Tensor | None = None) -> torch.Tensor:
        if reorder is not None:
            self.cache.reorder_cache(reorder)
        self.mask = torch.cat([self.mask, self.mask.new_ones(self.mask.shape[0], 1)], dim=-1)
        with step_attention(tokens.device):
            out = self.method.backbone(
                input_ids=tokens[:, None],
                attention_mask=self.mask,
                position_ids=self.next_pos[:, None],
                past_key_values=self.cache,
                use_cache=True,
            )
        self.cache = out.past_key_values
        self.next_pos = self.next_pos + 1
        return out.logits[:, -1, :]


def _stepper(
    method: Method,
    ids: torch.Tensor,
    mask: torch.Tensor,
    beams: int = 1,
    cells: torch.Tensor | None = None,
    room: int | None = None,
) -> _Stepper | seq2seq.Stepper:
    """The running batch, each input repeated for `beams` beams (an encoder-decoder encodes each input once).
    `cells` (packed methods): the cell index of each input."""
    if seq2seq.is_encoder_decoder(method.backbone):
        return seq2seq.Stepper(method, ids, mask, beams, cells, room)
    return _Stepper(method, ids, mask, cells, beams, room)


def _processed_log_probs(
    logits: torch.Tensor, step: int, eos_id: int, banned: torch.Tensor, min_new_tokens: int
) -> torch.Tensor:
    # As transformers: log-softmax first, then the processors set forbidden entries to -inf.
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    if banned.numel():
        log_probs[:, banned] = -float("inf")
    if step < min_new_tokens:
        log_probs[:, eos_id] = -float("inf")
    return log_probs


def _gather(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """t[b, idx[b, j], ...] for each batch row b."""
    view = idx.view(*idx.shape, *([1] * (t.dim() - 2))).expand(*idx.shape, *t.shape[2:])
    return torch.gather(t, 1, view)


@torch.no_grad()
def beam_search(
    method: Method,
    ids: torch.Tensor,
    mask: torch.Tensor,
    *,
    num_beams: int,
    max_new_tokens: int,
    min_new_tokens: int,
    eos_id: int,
    banned: torch.Tensor,
    length_penalty: float = 1.0,
    cells: torch.Tensor | None = None,
) -> list[list[int]]:
    """Best beam per input (new tokens only, final EOS dropped). Semantics of transformers' beam search
    with early_stopping=False. `cells` (packed methods): the cell index of each input row."""
    b, k = ids.shape[0], num_beams
    stepper = _stepper(method, ids, mask, beams=k, cells=cells, room=max_new_tokens)
    dev = ids.device
    run_seqs = torch.full((b, k, max_new_tokens), eos_id, dtype=torch.long, device=dev)
    run_scores = torch.zeros((b, k), device=dev)
    run_scores[:, 1:] = NEG  # all beams start identical: expand only the first one
    fin_seqs, fin_scores = run_seqs.clone(), torch.full((b, k), NEG, device=dev)
    fin_len = torch.zeros((b, k), dtype=torch.long, device=dev)
    is_fin = torch.zeros((b, k), dtype=torch.bool, device=dev)
    improvable = torch.ones((b, 1), dtype=torch.bool, device=dev)
    top_k_mask = torch.arange(2 * k, device=dev) < k
    logits = stepper.logits
    for t in range(max_new_tokens):
        log_probs = _processed_log_probs(logits, t, eos_id, banned, min_new_tokens)
        vocab = log_probs.shape[-1]
        acc = (log_probs.view(b, k, vocab) + run_scores[:, :, None]).view(b, k * vocab)
        top_vals, top_idx = torch.topk(acc, 2 * k)
        src_beam, tokens = top_idx // vocab, top_idx % vocab
        cand = _gather(run_seqs, src_beam)
        cand[:, :, t] = tokens
        hits = (tokens == eos_id) | (t + 1 >= max_new_tokens)
        # Next running beams: the best K candidates that did not just finish.
        run_vals = top_vals + hits.float() * NEG
        keep = torch.topk(run_vals, k).indices
        run_seqs, run_scores, run_src = _gather(cand, keep), _gather(run_vals, keep), _gather(src_beam, keep)
        # Finished hypotheses: only among the top K candidates, scored with the length penalty.
        done = hits & top_k_mask
        scored = top_vals / ((t + 1) ** length_penalty)
        scored = scored + (~improvable).float() * NEG + (~done).float() * NEG
        merged = torch.cat([fin_scores, scored], 1)
        best = torch.topk(merged, k).indices
        fin_seqs = _gather(torch.cat([fin_seqs, cand], 1), best)
        fin_scores = _gather(merged, best)
        fin_len = _gather(torch.cat([fin_len, torch.full_like(hits, t + 1, dtype=torch.long)], 1), best)
        is_fin = _gather(torch.cat([is_fin, done], 1), best)
        # Stop when no running beam can beat the worst finished one (transformers' heuristic).
        best_running = run_scores[:, :1] / ((t + 1) ** length_penalty)
        worst_fin = torch.where(is_fin, fin_scores.min(1, keepdim=True).values, torch.full_like(fin_scores, NEG))
        improvable = improvable & (best_running > worst_fin).any(-1, keepdim=True)
        if not improvable.any() or bool(hits.all()):
            break
        flat_src = (run_src + torch.arange(b, device=dev)[:, None] * k).view(-1)
        logits = stepper.step(run_seqs[:, :, t].reshape(-1), reorder=flat_src)
    out = []
    for i in range(b):
        seq = fin_seqs[i, 0, : fin_len[i, 0]].tolist()
        out.append(seq[:-1] if seq and seq[-1] == eos_id else seq)
    return out


@torch.no_grad()
def greedy_search(
    method: Method,
    ids: torch.Tensor,
    mask: torch.Tensor,
    *,
    max_new_tokens: int,
    min_new_tokens: int,
    eos_id: int,
    banned: torch.Tensor,
    cells: torch.Tensor | None = None,
) -> list[list[int]]:
    stepper = _stepper(method, ids, mask, cells=cells, room=max_new_tokens)
    logits, outs = stepper.logits, [[] for _ in range(ids.shape[0])]
    finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    for t in range(max_new_tokens):
        tokens = _processed_log_probs(logits, t, eos_id, banned, min_new_tokens).argmax(-1)
        tokens = torch.where(finished, torch.full_like(tokens, eos_id), tokens)
        for i, tok in enumerate(tokens.tolist()):
            if not finished[i] and tok != eos_id:
                outs[i].append(tok)
        finished |= tokens == eos_id
        if finished.all():
            break
        logits = stepper.step(tokens)
    return outs


CPU_BATCH = 10  # decode.batch_size: auto on a CPU (bigger batches gain little there)


def batch_rows(method: Method, cfg: dict, device: torch.device, longest: int) -> int:
    """Inputs per batch: `decode.batch_size`, or for `auto` on a GPU as many as half its free memory holds.

    Per input the search keeps `num_beams` rows, each with keys and values at every layer for the whole
    sequence (source, prefix, new tokens), counted twice because the cache grows by concatenation.
    """
    size = cfg["batch_size"]
    if size != "auto":
        return size
    if device.type != "cuda":
        return CPU_BATCH
    from harness.methods.prefix import kv_shape

    config = method.backbone.config
    layers, kv_heads, head_dim = kv_shape(config)
    slack = 128  # prefix / virtual tokens / separator: small against the sequence
    tokens = longest + cfg["max_new_tokens"] + slack
    element = next(method.backbone.parameters()).element_size()
    per_row = 2 * layers * 2 * kv_heads * head_dim * tokens * element + 3 * 4 * config.vocab_size
    beams = cfg["num_beams"] if cfg["strategy"] == "beam" else 1
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, int(free * 0.5 // (per_row * beams)))


def decode(
    method: Method,
    tokenizer: PreTrainedTokenizerBase,
    sources: list[str],
    cfg: dict,
    progress: bool = False,
    cells: list[int] | None = None,
) -> list[str]:
    """Generate one output line per source with the `decode:` settings of a cell.

    Inputs are decoded longest first, `cfg["batch_size"]` at a time, so a batch holds inputs of similar
    length (little padding); outputs come back in input order. `cells` (with a `PackedCells` method): the
    cell of each source, so the sources of K cells decode in the same batches.
    """
    method.eval()
    device = next(method.backbone.parameters()).device
    eos_id = tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
    banned = torch.tensor(_newline_ids(tokenizer) if cfg.get("ban_newline", True) else (), dtype=torch.long)
    encoder_decoder = seq2seq.is_encoder_decoder(method.backbone)
    encode = seq2seq.source_ids if encoder_decoder else prompt_ids
    contexts = [encode(tokenizer, s) for s in sources]
    order = sorted(range(len(contexts)), key=lambda i: -len(contexts[i]))  # stable: ties keep input order
    outputs: list[str] = [""] * len(sources)
    size = batch_rows(method, cfg, device, longest=len(contexts[order[0]]) if order else 0)
    batches = range(0, len(order), size)
    for start in tqdm(batches, desc="decode", disable=not progress):
        chosen = order[start : start + size]
        if encoder_decoder:  # the encoder's input, right-padded as in training
            ids, mask = seq2seq.right_pad([contexts[i] for i in chosen], pad_id)
        else:
            ids, mask = _left_pad([contexts[i] for i in chosen], pad_id)
        common = dict(
            max_new_tokens=cfg["max_new_tokens"],
            min_new_tokens=cfg["min_new_tokens"],
            eos_id=eos_id,
            banned=banned.to(device),
            cells=None if cells is None else torch.tensor([cells[i] for i in chosen], device=device),
        )
        if cfg["strategy"] == "beam":
            seqs = beam_search(method, ids.to(device), mask.to(device), num_beams=cfg["num_beams"], **common)
        else:
            seqs = greedy_search(method, ids.to(device), mask.to(device), **common)
        # One line per input, whatever the model emits: newlines would break line alignment with the refs.
        for i, seq in zip(chosen, seqs, strict=True):
            outputs[i] = " ".join(tokenizer.decode(seq, skip_special_tokens=True).split())
    return outputs


def _decode_dtype(device: torch.device, cfg: dict) -> torch.dtype:
    """bf16 weights on a GPU unless the config asks for fp32: decoding is memory-bound, half the bytes per step."""
    precision = cfg.get("precision", "auto")
    return torch.bfloat16 if precision == "bf16" or (precision == "auto" and device.type == "cuda") else torch.float32


def _load_trained(cell, cell_dir: Path, backbone) -> Method:
    from harness.methods import build_method
    from harness.train import STATE_DIR

    method = build_method(cell.method_spec, backbone)
    method.load_export_from(cell_dir / STATE_DIR)
    return method


def _write_generations(cell_dir: Path, lines: list[str], file_name: str = "generations.txt") -> Path:
    from harness.io import atomic_write_text

    out = cell_dir / file_name
    atomic_write_text(out, "".join(line + "\n" for line in lines))
    return out


def generate_cell(cell, data_dir: Path, cell_dir: Path) -> Path:
    """Decode the test set of a trained cell into `generations.txt` (one line per test input, in order)."""
    from harness.io import read_jsonl
    from harness.models import fast_kernels, load_backbone
    from harness.train import pick_device

    device = pick_device()
    model, tokenizer = load_backbone(cell.model_spec)
    fast_kernels(model, device)
    method = _load_trained(cell, cell_dir, model).to(device=device, dtype=_decode_dtype(device, cell.decode))
    sources = [row["source"] for row in read_jsonl(data_dir / "test.jsonl")]
    return _write_generations(cell_dir, decode(method, tokenizer, sources, cell.decode, progress=True))


def generate_pack(
    cells: list, data_dirs: list[Path], cell_dirs: list[Path], file_name: str = "generations.txt"
) -> list[Path]:
    """Decode the test sets of K trained cells of one packable method together, over one loaded backbone.

    The cells must share the decode settings (one search serves all of them); each still gets its own
    `generations.txt`, the same lines `generate_cell` writes for it.
    """
    from harness.io import read_jsonl
    from harness.models import fast_kernels, load_backbone
    from harness.packed import PackedCells
    from harness.train import pick_device

    if any(cell.decode != cells[0].decode for cell in cells):
        raise ValueError("cells decoded together must share their decode settings")
    device = pick_device()
    model, tokenizer = load_backbone(cells[0].model_spec)
    fast_kernels(model, device)
    packed = PackedCells([_load_trained(c, d, model) for c, d in zip(cells, cell_dirs, strict=True)])
    packed.to(device=device, dtype=_decode_dtype(device, cells[0].decode))
    sources, owner = [], []
    for i, data_dir in enumerate(data_dirs):
        rows = read_jsonl(data_dir / "test.jsonl")
        sources += [row["source"] for row in rows]
        owner += [i] * len(rows)
    lines = decode(packed, tokenizer, sources, cells[0].decode, progress=True, cells=owner)
    outputs = []
    for i, cell_dir in enumerate(cell_dirs):
        mine = [line for line, o in zip(lines, owner, strict=True) if o == i]
        outputs.append(_write_generations(cell_dir, mine, file_name))
    return outputs
