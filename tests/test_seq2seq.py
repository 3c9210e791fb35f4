"""Encoder-decoder backbones (harness.seq2seq): the training batch, and our beam/greedy search against
transformers' generate() on a padded batch of BART and T5 inputs."""

from __future__ import annotations

import pytest
import torch
from core_conftest_helpers import DECODE, SYNTHETIC_ROWS, make_cell, randomise_prefix_, torch_threads
from core_conftest_helpers import write_synthetic_data as write_data
from transformers import AutoModelForSeq2SeqLM

from harness import seq2seq
from harness.generate import beam_search, decode, generate_cell, greedy_search
from harness.io import read_jsonl
from harness.loss import batch_loss
from harness.methods import build_method
from harness.models import TINY_CLASSES, TINY_CONFIGS, load_backbone
from harness.train import STATE_DIR

MAX_NEW, MIN_NEW = 10, 3
VOCAB, BOS, EOS, PAD = 24, 1, 2, 0
_gen = torch.Generator().manual_seed(0)
SOURCES = [torch.randint(3, VOCAB, (n,), generator=_gen).tolist() for n in (3, 7, 1, 5, 9, 4)]
# Picked so that outputs end at many different lengths (checked below). T5.1.1 does not scale its decoder output,
# so its random logits are peaked: they are tempered too.
EOS_BIAS, LOGIT_SCALE = {"bart": 4.0, "t5": 4.0}, {"bart": 1.0, "t5": 0.2}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module", params=["bart", "t5"])
def small(request):
    """(model, bare method): a 24-token twin of tiny:`kind` whose EOS logit is raised by a hook on the LM head,
    so that both our search and generate() see an EOS-friendly distribution and beams finish early."""
    kind = request.param
    start = EOS if kind == "bart" else PAD  # the families' conventions
    ids = dict(vocab_size=VOCAB, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, decoder_start_token_id=start)
    config = TINY_CLASSES[kind](**TINY_CONFIGS[kind], **ids)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = AutoModelForSeq2SeqLM.from_config(config).eval()

    def add_bias(module, inputs, output):
        output = output * LOGIT_SCALE[kind]
        output[..., EOS] += EOS_BIAS[kind]
        return output

    model.get_output_embeddings().register_forward_hook(add_bias)
    return model, build_method({"type": "finetune"}, model).eval()


def _padded() -> tuple[torch.Tensor, torch.Tensor]:
    return seq2seq.right_pad(SOURCES, PAD)


def _hf(model, ids, mask, banned: int, **kwargs) -> list[list[int]]:
    """generate() on the whole padded batch; new tokens up to (not including) the first EOS."""
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        do_sample=False,
        bad_words_ids=[[banned]],
        min_new_tokens=MIN_NEW,
        max_new_tokens=MAX_NEW,
        eos_token_id=EOS,
        pad_token_id=PAD,
        **kwargs,
    )[:, 1:]  # the decoder start token
    return [row[: row.index(EOS)] if EOS in row else row for row in out.tolist()]


def _ours(method, ids, mask, banned: list[int], strategy: str, **kwargs) -> list[list[int]]:
    common = dict(max_new_tokens=MAX_NEW, min_new_tokens=MIN_NEW, eos_id=EOS, banned=torch.tensor(banned))
    if strategy == "beam":
        return beam_search(method, ids, mask, num_beams=5, **common, **kwargs)
    return greedy_search(method, ids, mask, **common)


@pytest.mark.parametrize("length_penalty", [1.0, 1.5])
def test_beam_search_equals_generate_on_a_padded_batch(small, length_penalty):
    model, method = small
    ids, mask = _padded()
    assert (mask == 0).any()
    banned = _ours(method, ids[:1], mask[:1], [], "greedy")[0][0]  # banning the top first token makes the ban matter
    ours = _ours(method, ids, mask, [banned], "beam", length_penalty=length_penalty)
    assert ours == _hf(model, ids, mask, banned, num_beams=5, early_stopping=False, length_penalty=length_penalty)
    lengths = [len(o) for o in ours]
    # Not vacuous: some beams finished on EOS early, others ran to the limit; min/ban were honoured.
    assert min(lengths) < MAX_NEW and len(set(lengths)) >= 2, lengths
    assert min(lengths) >= MIN_NEW and all(banned not in o and EOS not in o for o in ours)


def test_greedy_equals_generate_on_a_padded_batch(small):
    model, method = small
    ids, mask = _padded()
    banned = _ours(method, ids[:1], mask[:1], [], "greedy")[0][0]
    ours = _ours(method, ids, mask, [banned], "greedy")
    assert ours == _hf(model, ids, mask, banned, num_beams=1)
    assert len({len(o) for o in ours}) >= 2


@pytest.mark.parametrize("spec", [{"type": "prefix", "length": 4, "mid_dim": 16}, {"type": "prompt", "length": 4}])
@pytest.mark.parametrize("strategy", ["beam", "greedy"])
def test_batched_search_with_a_method_equals_one_by_one(small, spec, strategy):
    """Padding and beams never leak: each input decodes alone as it does in the padded batch."""
    model, bare = small
    torch.manual_seed(0)
    method = build_method({**spec, **({"init": "uniform"} if spec["type"] == "prompt" else {})}, model).eval()
    randomise_prefix_(method, std=0.5, seed=3)
    ids, mask = _padded()
    batched = _ours(method, ids, mask, [], strategy)
    alone = [_ours(method, *seq2seq.right_pad([s], PAD), [], strategy)[0] for s in SOURCES]
    assert batched == alone
    assert batched != _ours(bare, ids, mask, [], strategy), "the method must change what is decoded"


def test_a_training_batch_feeds_the_labels_shifted_right_to_the_decoder():
    model, tokenizer = load_backbone({"source": "tiny:bart"})
    model.eval()  # no dropout: the two losses below must see the same model
    examples = [seq2seq.encode_example(tokenizer, s, t, 48) for s, t in SYNTHETIC_ROWS[:2]]
    source, labels = examples[0]
    assert source == tokenizer(SYNTHETIC_ROWS[0][0]).input_ids
    assert labels == tokenizer(SYNTHETIC_ROWS[0][1]).input_ids + [tokenizer.eos_token_id]
    start = seq2seq.decoder_start_id(model.config)
    batch = seq2seq.collate(examples, tokenizer.pad_token_id, start)
    n = len(labels)
    assert batch["labels"][0, :n].tolist() == labels and (batch["labels"][0, n:] == -100).all()
    assert batch["decoder_input_ids"][0, :n].tolist() == [start, *labels[:-1]]
    assert batch["decoder_attention_mask"][0].tolist() == [1] * n + [0] * (batch["labels"].shape[1] - n)
    assert batch["attention_mask"][0].tolist()[: len(source)] == [1] * len(source)
    # What the model builds itself from `labels` (shift right, start token, -100 -> pad) is what we feed it.
    shifted, real = model.prepare_decoder_input_ids_from_labels(labels=batch["labels"]), batch["decoder_attention_mask"]
    assert torch.equal(shifted[real.bool()], batch["decoder_input_ids"][real.bool()])
    with torch.no_grad():
        own = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
        ours = batch_loss(build_method({"type": "finetune"}, model).eval(), batch)
    torch.testing.assert_close(ours, own)


def test_a_target_cut_by_max_length_keeps_its_first_tokens():
    _, tokenizer = load_backbone({"source": "tiny:t5"})
    source, labels = seq2seq.encode_example(tokenizer, "name : Zizzi | food : Chinese", "Zizzi serves Chinese food.", 3)
    assert len(source) == 3 and labels == tokenizer("Zizzi serves Chinese food.").input_ids[:3]


@pytest.mark.parametrize("kind", ["bart", "t5"])
def test_generate_cell_decodes_a_trained_encoder_decoder_cell(kind, tmp_path):
    """decode() with the cell's decode: settings on the real tiny model; one line per test input, and the
    batch size of decoding does not change the outputs."""
    model, tokenizer = load_backbone({"source": f"tiny:{kind}"})
    spec = {"type": "prefix", "length": 3, "mid_dim": 16}
    torch.manual_seed(0)
    prefix = build_method(spec, model).eval()
    randomise_prefix_(prefix, std=0.5, seed=1)
    cell_dir = tmp_path / "cell"
    prefix.save_export(cell_dir / STATE_DIR)
    data = write_data(tmp_path / "data", n=5)
    out = generate_cell(make_cell(f"tiny:{kind}", spec), data, cell_dir)
    sources = [r["source"] for r in read_jsonl(data / "test.jsonl")]
    lines = out.read_text().split("\n")[:-1]
    assert lines == decode(prefix, tokenizer, sources, {**DECODE, "batch_size": 1}) and len(lines) == len(sources)
