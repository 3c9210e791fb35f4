"""Config loading: defaults, unknown keys named with their path, same verdict as Snakemake."""

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate as snakemake_validate

from harness.__main__ import main
from harness.config import SCHEMA_PATH, load_config, save_config, validate_config
from harness.errors import ConfigError

QUICKSTART = Path(__file__).resolve().parents[1] / "config" / "quickstart.yaml"


@pytest.fixture
def raw():
    with open(QUICKSTART, encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_quickstart_loads_with_defaults_filled():
    config = load_config(QUICKSTART)
    assert config["train"]["lr"] == 5.0e-5 and config["train"]["epochs"] == 1
    assert config["resources"]["train"] == {"mem_mb": 16000, "runtime": 720, "gpus": 0}
    assert config["scoring"] == {"nist": "pymteval"}
    # the method's own defaults are written out, so a changed default changes the cell hash
    assert config["methods"]["finetune"]["type"] == "finetune"
    assert config["methods"]["prefix"]["length"] == 5


def test_missing_blocks_take_schema_defaults(raw):
    for key in ("train", "decode", "scoring", "table", "data_dir"):
        del raw[key]
    config = validate_config(raw)
    assert config["train"]["batch_size"] == 10 and config["decode"]["num_beams"] == 5
    assert config["table"] == {"paper": "li-liang-2021", "version": "acl"}
    assert config["data_dir"] is None


def _set(config, dotted, value):
    *parents, last = dotted.split(".")
    for key in parents:
        config = config.setdefault(key, {})
    config[last] = value


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("colour", "config.colour: unknown key; allowed: name, results_dir, data_dir,"),
        ("train.lrr", "config.train.lrr: unknown key; allowed: lr, epochs, max_steps,"),
        ("decode.beams", "config.decode.beams: unknown key; allowed: strategy, num_beams,"),
        ("methods.prefix.train.lrr", "config.methods.prefix.train.lrr: unknown key; allowed: lr,"),
        ("models.smollm2-135m.revision", "config.models.smollm2-135m.revision: unknown key; allowed: source,"),
        ("resources.train.cpus", "config.resources.train.cpus: unknown key; allowed: mem_mb, runtime,"),
    ],
)
def test_unknown_key_is_named_with_its_path(raw, where, expected):
    _set(raw, where, 1)
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert str(err.value).startswith(expected)
    # Snakemake's template-way validation rejects the same config
    with pytest.raises(WorkflowError, match="Additional properties are not allowed"):
        snakemake_validate(copy.deepcopy(raw), str(SCHEMA_PATH))


def test_wrong_type_is_named_with_its_path(raw):
    raw["train"]["lr"] = "fast"
    with pytest.raises(ConfigError, match=r"^config\.train\.lr: 'fast' is not of type 'number'"):
        validate_config(raw)
    with pytest.raises(WorkflowError):
        snakemake_validate(copy.deepcopy(raw), str(SCHEMA_PATH))


def test_method_hyperparameters_are_checked_by_the_method(raw):
    raw["methods"]["prefix"]["lenght"] = 5
    with pytest.raises(ConfigError, match=r"config\.methods\.prefix\.lenght: unknown hyper-parameter"):
        validate_config(raw)
    raw["methods"]["prefix"] = {"type": "prefx"}
    with pytest.raises(ConfigError, match=r"config\.methods\.prefix\.type: unknown method 'prefx'"):
        validate_config(raw)


def test_dataset_parameters_are_checked_by_the_loader(raw):
    raw["datasets"]["e2e"]["train_row"] = 5
    with pytest.raises(ConfigError, match=r"^config\.datasets\.e2e: unknown E2E data parameter"):
        validate_config(raw)


def test_snakemake_fills_the_same_defaults(raw):
    del raw["train"]["epochs"], raw["decode"]
    filled_by_snakemake = copy.deepcopy(raw)
    snakemake_validate(filled_by_snakemake, str(SCHEMA_PATH))
    ours = validate_config(raw)
    for key in ours:
        if key != "methods":  # methods additionally get their hyper-parameter defaults
            assert ours[key] == filled_by_snakemake[key], key
    assert validate_config(filled_by_snakemake) == ours


def test_validation_does_not_mutate_its_input(raw):
    before = copy.deepcopy(raw)
    validate_config(raw)
    assert raw == before


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_cli_reports_config_errors_on_one_line(raw, tmp_path, capsys):
    raw["train"]["lrr"] = 1
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["cells", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: config.train.lrr: unknown key") and err.count("\n") == 1
    assert "Traceback" not in err


def test_yaml_exponent_without_dot_gets_a_hint(raw):
    raw["train"]["lr"] = "5e-5"  # what PyYAML makes of `lr: 5e-5`
    with pytest.raises(ConfigError, match=r"config\.train\.lr: .*write it with a decimal point"):
        validate_config(raw)


def test_json_snapshot_reads_back_identically(tmp_path):
    config = load_config(QUICKSTART)
    path = tmp_path / "config.json"
    assert save_config(config, path)
    assert "5e-05" in path.read_text()  # text to YAML 1.1, a number to JSON
    assert load_config(path) == config
    assert not save_config(config, path)  # same content: not rewritten, mtime kept
    config["seeds"] = [3]
    assert save_config(config, path) and load_config(path)["seeds"] == [3]
