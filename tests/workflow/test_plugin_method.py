"""An out-of-tree method: one module outside the repository + `plugins:` in the config.

The module below is BitFit (Ben Zaken et al. 2022: only the backbone's bias terms train). It is written into
a temporary folder, never into harness/, and reaches every process through PYTHONPATH: the config
checks here, `python -m harness methods`, and the real Snakemake workflow, whose jobs are fresh processes.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

import harness.config
from harness.__main__ import main
from harness.cells import cells_for
from harness.config import imported_plugins, validate_config
from harness.errors import ConfigError
from harness.methods import REGISTRY
from harness.models import TINY_CONFIGS, load_backbone
from harness.provenance import collect

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # core_conftest_helpers, when this folder runs alone

from core_conftest_helpers import require_shared_data  # noqa: E402

QUICKSTART = ROOT / "config" / "quickstart.yaml"
MODULE = "toy_bitfit"
TOY_BITFIT = '''
"""BitFit (Ben Zaken et al. 2022) as an out-of-tree method: only the backbone's bias terms train."""

from torch import nn

from harness.methods import HParam, Method, register

__version__ = "0.1"


@register
class BitFit(Method):
    """BitFit: only the bias terms of the backbone train."""

    name = "toy-bitfit"
    hparams = {
        "layernorm": HParam(True, "also train LayerNorm biases", lambda v: isinstance(v, bool), "true or false"),
    }

    def __init__(self, backbone, **hparams) -> None:
        super().__init__(backbone, **hparams)
        for module in backbone.modules():
            trains = self.hp["layernorm"] or not isinstance(module, nn.LayerNorm)
            for name, param in module.named_parameters(recurse=False):
                param.requires_grad_(name == "bias" and trains)
'''


def _tiny_gpt2_biases(layernorm: bool) -> int:
    """Bias values of harness.models' tiny:gpt2: per block c_attn (3d), attn c_proj (d), c_fc (4d), mlp c_proj
    (d); with LayerNorms also ln_1 and ln_2 (d each) per block and ln_f (d). The LM head has no bias."""
    d, layers = TINY_CONFIGS["gpt2"]["n_embd"], TINY_CONFIGS["gpt2"]["n_layer"]
    return layers * 9 * d + (layers * 2 * d + d if layernorm else 0)


def write_module(folder: Path, name: str, source: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for plugin modules; afterwards the process forgets them and what they registered."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(harness.config, "_PLUGINS", {})
    registry, modules = dict(REGISTRY), set(sys.modules)
    yield tmp_path
    REGISTRY.clear()
    REGISTRY.update(registry)
    for name in set(sys.modules) - modules:
        del sys.modules[name]


@pytest.fixture
def raw():
    return yaml.safe_load(QUICKSTART.read_text(encoding="utf-8"))


def with_toy(raw: dict, **hparams) -> dict:
    raw["plugins"] = [MODULE]
    raw["methods"]["bitfit"] = {"type": "toy-bitfit", "paper_method": "BitFit", **hparams}
    return raw


# -- the config: plugins are imported before methods are checked -------------------------------------------------


def test_a_plugin_method_is_checked_and_filled_like_a_built_in_one(plugin_dir, raw):
    path = write_module(plugin_dir, MODULE, TOY_BITFIT)
    config = validate_config(with_toy(raw))
    assert config["plugins"] == [MODULE]
    assert config["methods"]["bitfit"]["layernorm"] is True  # its default written out, so it is in the cell hash
    with pytest.raises(ConfigError, match=r"^config\.methods\.bitfit\.layernorm = 'no' is invalid for 'toy-bitfit'"):
        validate_config(with_toy(raw, layernorm="no"))
    (record,) = imported_plugins()
    assert record["module"] == MODULE and record["file"] == str(path) and record["version"] == "0.1"
    assert len(record["sha256"]) == 64
    assert collect()["plugins"] == [record]


def test_plugins_default_to_none(raw):
    assert validate_config(raw)["plugins"] == []


def test_the_plugin_method_is_in_the_cell_hash_and_leaves_other_cells_alone(plugin_dir, raw):
    write_module(plugin_dir, MODULE, TOY_BITFIT)
    plain = {c.id for c in cells_for(validate_config(raw))}
    with_plugin = {c.id for c in cells_for(validate_config(with_toy(copy.deepcopy(raw))))}
    assert plain < with_plugin and all("/bitfit-" in i for i in with_plugin - plain)
    no_layernorm = {c.id for c in cells_for(validate_config(with_toy(raw, layernorm=False)))}
    assert (no_layernorm - plain).isdisjoint(with_plugin - plain)


def test_a_missing_plugin_module_is_one_config_error(plugin_dir, raw):
    raw["plugins"] = ["no_such_plugin_module"]
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert str(err.value) == (
        "config.plugins: cannot import 'no_such_plugin_module' (ModuleNotFoundError: No module named "
        "'no_such_plugin_module'); put the module on PYTHONPATH or install it"
    )


@pytest.mark.parametrize(
    ("plugin", "source", "fix"),
    [
        ("toy_needs", "import no_such_dependency_xyz\n", "; the plugin needs 'no_such_dependency_xyz': install it"),
        ("toy_broken", "raise RuntimeError('boom')\n", "; fix the module (python -c 'import toy_broken' shows"),
        ("toy_broken.py", "", "; write the module's import name (e.g. 'my_method' for my_method.py), not a file"),
    ],
)
def test_a_failing_plugin_import_says_what_to_fix(plugin_dir, raw, plugin, source, fix):
    write_module(plugin_dir, plugin.removesuffix(".py"), source)
    raw["plugins"] = [plugin]
    with pytest.raises(ConfigError, match=rf"^config\.plugins: cannot import '{plugin}' \(\w+Error: ") as err:
        validate_config(raw)
    assert fix in str(err.value)


def test_a_plugin_reusing_a_method_name_names_both_classes(plugin_dir, raw):
    write_module(plugin_dir, "toy_clash", TOY_BITFIT.replace('"toy-bitfit"', '"prefix"'))
    raw["plugins"] = ["toy_clash"]
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert str(err.value) == (
        "config.plugins: 'toy_clash': method name 'prefix' is taken: harness.methods.prefix.PrefixTuning and "
        "toy_clash.BitFit both use it; give toy_clash.BitFit another `name`"
    )


def test_a_plugin_method_without_its_plugin_is_unknown_with_a_hint(raw):
    raw["methods"]["bitfit"] = {"type": "toy-bitfit"}
    with pytest.raises(ConfigError, match=r"unknown method 'toy-bitfit'; .*list its module under plugins:"):
        validate_config(raw)


# -- `python -m harness methods` ---------------------------------------------------------------------------------


def _listed(capsys) -> dict:
    return {m["method"]: m for m in map(json.loads, capsys.readouterr().out.splitlines())}


def test_methods_command_lists_a_plugin_method_with_its_hyper_parameters(plugin_dir, raw, tmp_path, capsys):
    write_module(plugin_dir, MODULE, TOY_BITFIT)
    assert main(["methods"]) == 0
    assert "toy-bitfit" not in _listed(capsys)
    assert main(["methods", "--plugin", MODULE]) == 0
    toy = _listed(capsys)["toy-bitfit"]
    assert toy["doc"] == "BitFit: only the bias terms of the backbone train."
    assert toy["hparams"] == {"layernorm": {"default": True, "help": "also train LayerNorm biases"}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(with_toy(raw)))
    assert main(["methods", "--config", str(tmp_path / "config.yaml")]) == 0
    assert "toy-bitfit" in _listed(capsys)


def test_methods_command_reports_a_missing_plugin_on_one_line(capsys):
    assert main(["methods", "--plugin", "no_such_plugin_module"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --plugin: cannot import 'no_such_plugin_module'") and err.count("\n") == 1


# -- the real workflow: the plugin's row reaches the table ------------------------------------------------------


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    """One plugin cell (tiny GPT-2, 20 real E2E pairs, 2 steps) through Snakemake with the local profile."""
    data_root = require_shared_data()
    workdir, plugins = tmp_path_factory.mktemp("run"), tmp_path_factory.mktemp("plugins")
    write_module(plugins, MODULE, TOY_BITFIT)
    config = {
        "name": "plugin-test",
        "results_dir": str(workdir / "results"),
        "data_dir": str(data_root),
        "plugins": [MODULE],
        "datasets": {"e2e": {"split": "full", "train_rows": 20, "dev_rows": 4, "test_mrs": 4}},
        "models": {"tiny": {"source": "tiny:gpt2", "paper_model": "GPT-2 M"}},
        "methods": {"bitfit": {"type": "toy-bitfit", "layernorm": False, "paper_method": "BitFit"}},
        "seeds": [1],
        "train": {"lr": 1.0e-2, "epochs": 1, "max_steps": 2, "batch_size": 10, "log_every": 1, "max_length": 64},
        "decode": {"strategy": "greedy", "max_new_tokens": 6, "min_new_tokens": 1, "batch_size": 4},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    # The plugin reaches the Snakefile parse and every job only through the environment, as on a cluster.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")]))}
    command = [
        *(sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")),
        *("--profile", str(ROOT / "workflow" / "profiles" / "local")),
        *("--directory", str(workdir), "--configfile", str(workdir / "config.yaml")),
    ]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    return workdir / "results", run


@pytest.mark.slow
def test_a_plugin_method_flows_through_the_workflow_into_the_table(workflow_run):
    results, run = workflow_run
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    rows = [r for r in csv.DictReader((results / "summary.csv").open()) if r["method"] == "bitfit"]
    assert {r["metric"] for r in rows} >= {"BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"}
    assert all(math.isfinite(float(r["value"])) for r in rows)
    table = (results / "table.md").read_text()
    assert "| BitFit ← bitfit |" in table

    (done,) = results.glob("cells/**/bitfit-*/seed1/state/trained.json")
    cell_dir = done.parents[1]
    trained = json.loads(done.read_text())
    assert trained["steps"] == 2
    assert trained["trainable_parameters"] == trained["exported_values"] == _tiny_gpt2_biases(layernorm=False)
    export = load_file(str(cell_dir / "state" / "export.safetensors"))
    assert export and all(key.endswith(".bias") and ".ln_" not in key for key in export)
    initial, _ = load_backbone({"source": "tiny:gpt2"})  # the weights the cell started from
    start = initial.state_dict()
    assert any(not torch.equal(value, start[key.removeprefix("backbone.")]) for key, value in export.items())
    (plugin,) = json.loads((cell_dir / "provenance.json").read_text())["plugins"]
    assert plugin["module"] == MODULE and plugin["version"] == "0.1"
