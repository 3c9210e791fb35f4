"""Packed training: K cells trained in one pack end exactly where K separate runs end."""

from __future__ import annotations

import pytest
import torch
from core_conftest_helpers import make_cell, read_log, write_synthetic_data
from safetensors.torch import load_file

from harness.errors import TrainingError
from harness.methods.base import EXPORT_FILE
from harness.train import DONE_FILE, STATE_DIR, train_cell, train_pack

PREFIX = {"type": "prefix", "length": 3, "mid_dim": 16}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_synthetic_data(tmp_path_factory.mktemp("synthetic"), n=10)


def _export(cell_dir):
    return load_file(str(cell_dir / STATE_DIR / EXPORT_FILE))


def _assert_same_run(packed_dir, alone_dir):
    packed_log, alone_log = read_log(packed_dir), read_log(alone_dir)
    assert [r["step"] for r in packed_log] == [r["step"] for r in alone_log]
    for got, want in zip(packed_log, alone_log, strict=True):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-5)
        assert got["lr"] == want["lr"]
    packed, alone = _export(packed_dir), _export(alone_dir)
    assert packed.keys() == alone.keys()
    for key in packed:
        torch.testing.assert_close(packed[key], alone[key], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "spec,kind",
    [
        (PREFIX, "llama"),
        (PREFIX, "gpt2"),
        ({"type": "prompt", "length": 4, "init": "vocab"}, "llama"),
        ({"type": "infix", "length": 2, "mid_dim": 16}, "llama"),
    ],
)
def test_a_pack_equals_separate_runs(spec, kind, data_dir, tmp_path):
    # Cells differ in seed, learning rate, batch size, accumulation and length of training, as a grid's do.
    source = f"tiny:{kind}"
    cells = [
        make_cell(source, spec, seed=0, lr=1e-2, batch_size=4, max_steps=4),
        make_cell(source, spec, seed=1, lr=3e-3, batch_size=3, grad_accum=2, max_steps=3),
        make_cell(source, spec, seed=2, lr=1e-2, batch_size=5, max_steps=None, epochs=2),
    ]
    packed_dirs = [tmp_path / f"packed{i}" for i in range(3)]
    alone_dirs = [tmp_path / f"alone{i}" for i in range(3)]
    summaries = train_pack(cells, [data_dir] * 3, packed_dirs)
    assert [s["steps"] for s in summaries] == [4, 3, 4]
    for cell, alone in zip(cells, alone_dirs, strict=True):
        train_cell(cell, data_dir, alone)
    for packed, alone in zip(packed_dirs, alone_dirs, strict=True):
        _assert_same_run(packed, alone)
        assert (packed / STATE_DIR / DONE_FILE).exists() and (packed / "provenance.json").exists()
    # Different seeds really trained different cells.
    key = {"prefix": "prefix", "prompt": "prompt", "infix": "kv"}[spec["type"]]
    assert not torch.allclose(_export(packed_dirs[0])[key], _export(packed_dirs[1])[key])


def test_a_diverging_cell_drops_out_and_the_others_finish(data_dir, tmp_path):
    good = make_cell("tiny:llama", PREFIX, seed=0, lr=1e-2, max_steps=3)
    bad = make_cell("tiny:llama", PREFIX, seed=1, lr=1e30, max_steps=3)  # the prefix blows up after one step
    results = train_pack([good, bad], [data_dir] * 2, [tmp_path / "good", tmp_path / "bad"])
    assert results[0]["steps"] == 3
    assert isinstance(results[1], TrainingError) and "lower train.lr" in str(results[1])
    assert not (tmp_path / "bad" / STATE_DIR / DONE_FILE).exists()
    train_cell(good, data_dir, tmp_path / "good-alone")
    _assert_same_run(tmp_path / "good", tmp_path / "good-alone")


def test_a_pack_resumes_each_cell_from_its_own_checkpoint(data_dir, tmp_path):
    cells = [make_cell("tiny:llama", PREFIX, seed=s, lr=1e-2, max_steps=6, checkpoint_every=2) for s in (0, 1)]
    straight = [tmp_path / f"straight{i}" for i in range(2)]
    train_pack(cells, [data_dir] * 2, straight)

    class Stop(Exception):
        pass

    def stop_at_3(cell_id, step, loss):
        if step == 3 and cell_id == cells[1].id:
            raise Stop

    resumed = [tmp_path / f"resumed{i}" for i in range(2)]
    with pytest.raises(Stop):
        train_pack(cells, [data_dir] * 2, resumed, on_step=stop_at_3)
    assert (resumed[0] / STATE_DIR / "checkpoint").exists()
    train_pack(cells, [data_dir] * 2, resumed)
    for a, b in zip(straight, resumed, strict=True):
        # Each step logged once, with the uninterrupted run's loss and learning rate (elapsed time differs).
        assert [(r["step"], r["loss"], r["lr"]) for r in read_log(a)] == [
            (r["step"], r["loss"], r["lr"]) for r in read_log(b)
        ]
        for key, value in _export(a).items():
            assert torch.equal(value, _export(b)[key])
