"""The experiment config: YAML -> defaults filled -> validated.

The JSON schema in workflow/schemas/ is the single description of the config. Snakemake's
`validate` (workflow/rules/common.smk) and `load_config` read the same file and fill the same
`default`s, so the workflow and `python -m harness` always see the same config. Keys inside
`datasets.<name>` belong to that dataset's loader and a method's hyper-parameters to the
method's module; both are checked here by asking them. Modules under `plugins:` are imported
first, in every process that validates the config, so an out-of-tree method registered there is
known to the Snakefile and to each job alike.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import best_match

from harness.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"

# The plugin modules this process imported for a config, in order: what provenance records.
_PLUGINS: dict[str, dict] = {}


def load_config(path: str | Path) -> dict:
    """Read a config file and return it validated, with every default filled in."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        # JSON as JSON: the workflow's config.json snapshot holds numbers like 5e-05, which
        # YAML 1.1 (PyYAML) reads as text.
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found; pass an existing file, e.g. config/quickstart.yaml."
        ) from None
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        raise ConfigError(f"config file {path} is not valid YAML/JSON: {err}. Fix the syntax at that line.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys (name, results_dir, ...).")
    return validate_config(raw)


def validate_config(config: dict) -> dict:
    """A validated copy of `config` with defaults filled (methods' hyper-parameters included).

    ConfigError names the first problem and where it is.
    """
    config = copy.deepcopy(config)
    errors = list(_validator().iter_errors(config))  # fills defaults while it walks
    if errors:
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(_describe(best_match(errors)) + more)
    import_plugins(config["plugins"])  # before the checks: a plugin's methods must be registered
    _check_datasets(config["datasets"])
    _check_methods(config["methods"])
    return config


def save_config(config: dict, path: str | Path) -> bool:
    """Write `config` as JSON to `path` unless it already holds exactly that; True if written.

    The workflow calls this on every parse (each SLURM job re-parses the Snakefile): an
    identical config is then never rewritten under a running job.
    """
    from harness.io import atomic_write_json

    path = Path(path)
    if path.is_file() and json.loads(path.read_text(encoding="utf-8")) == config:
        return False
    atomic_write_json(path, config)
    return True


def import_plugins(modules: list[str], where: str = "config.plugins") -> None:
    """Import each `config.plugins` module, so the methods it registers exist in this process.

    Each workflow job is a fresh process, so registering happens wherever the config is validated, never
    once for all. Importing an already imported module is a no-op. `where` names the setting in errors.
    """
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ConfigError as err:  # raised by the plugin itself (e.g. `register`): its message names the fix
            raise ConfigError(f"{where}: {name!r}: {err}") from None
        except Exception as err:  # any failure of foreign code becomes one line that says what to do
            raise ConfigError(f"{where}: {_import_failure(name, err)}") from err
        _PLUGINS.setdefault(name, _plugin_record(module))


def imported_plugins() -> list[dict]:
    """Module, file, sha256 and __version__ of every plugin this process imported (for provenance)."""
    return list(_PLUGINS.values())


def _import_failure(name: str, err: Exception) -> str:
    problem = f"cannot import {name!r} ({type(err).__name__}: {err})"
    if name.endswith(".py") or "/" in name or "\\" in name:
        return f"{problem}; write the module's import name (e.g. 'my_method' for my_method.py), not a file path"
    missing = err.name if isinstance(err, ModuleNotFoundError) else None
    if missing and missing != name and not name.startswith(missing + "."):
        return f"{problem}; the plugin needs {missing!r}: install it"
    if missing:
        return f"{problem}; put the module on PYTHONPATH or install it"
    return f"{problem}; fix the module (python -c 'import {name}' shows the traceback)"


def _plugin_record(module: ModuleType) -> dict:
    # A plugin lives outside this repository, so the git commit in provenance says nothing about its code:
    # the file's hash does.
    file = getattr(module, "__file__", None)
    sha256 = hashlib.sha256(Path(file).read_bytes()).hexdigest() if file and Path(file).is_file() else None
    return {"module": module.__name__, "file": file, "sha256": sha256, "version": getattr(module, "__version__", None)}


def _check_datasets(datasets: dict) -> None:
    from harness import data  # the loaders own their parameters

    for name, params in datasets.items():
        try:
            data.variant_name(name, params)
        except ConfigError as err:
            raise ConfigError(f"config.datasets.{name}: {err}") from None


def _check_methods(methods: dict) -> None:
    from harness.methods import REGISTRY, check_spec  # the method modules own their hyper-parameters

    for name, entry in methods.items():
        check_spec(name, method_spec(entry))  # its messages name config.methods.<name>.<key>
        # Written-out defaults make a code change of a default show up in the cell hash.
        for key, hparam in REGISTRY[entry["type"]].hparams.items():
            entry.setdefault(key, hparam.default)


def method_spec(entry: dict) -> dict:
    """A `methods:` entry without its train/decode overrides: type, label and hyper-parameters."""
    return {k: v for k, v in entry.items() if k not in ("train", "decode")}


@functools.cache
def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def _validator() -> Draft202012Validator:
    return _DefaultFillingValidator(load_schema())


def _fill_defaults(validator: Any, properties: dict, instance: Any, schema: dict) -> Iterator[ValidationError]:
    # What snakemake.utils.validate does (jsonschema FAQ recipe); deepcopy so that a filled-in
    # default dict is never shared between configs or with the cached schema.
    if isinstance(instance, dict):
        for key, subschema in properties.items():
            if "default" in subschema:
                instance.setdefault(key, copy.deepcopy(subschema["default"]))
    yield from Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)


_DefaultFillingValidator = validators.extend(Draft202012Validator, {"properties": _fill_defaults})


def _describe(error: ValidationError) -> str:
    where = _path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in allowed]
        key_path = f"{where}.{unknown[0]}" if len(unknown) == 1 else f"{where} ({', '.join(unknown)})"
        noun = "unknown key" if len(unknown) == 1 else "unknown keys"
        return f"{key_path}: {noun}; allowed: {', '.join(allowed)}"
    if error.validator == "type" and isinstance(error.instance, str) and _is_number(error.instance):
        # PyYAML follows YAML 1.1, where 5e-5 (no dot) is a string.
        fix = f"YAML reads {error.instance} as text, write it with a decimal point (e.g. 5.0e-5)"
        return f"{where}: {error.message}; {fix}"
    return f"{where}: {error.message}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _path(parts: Iterable[Any]) -> str:
    return "config" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
