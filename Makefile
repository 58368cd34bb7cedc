# Set-up and everyday commands. Every pip call goes through constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet -c constraints.txt
STAMP := $(VENV)/.installed

.PHONY: install demo demo-full test test-slow test-slurm test-gpu lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[test]'
	touch $@

## make demo: run the whole DAG on the built-in mini-NSD (config.yaml as shipped), then its report.
## One thread a job, so the 2 cores of a laptop run two jobs at once.
demo: install
	$(BIN)/snakemake --max-threads 1
	$(BIN)/snakemake --report report.html

## make demo-full: the same at full quality (configs/demo-full.yaml: 4 subjects, 2 backbones, 4000
## generator steps; about an hour and a half on 2 cores).
demo-full: install
	$(BIN)/snakemake --configfile config.yaml configs/demo-full.yaml
	$(BIN)/snakemake --configfile config.yaml configs/demo-full.yaml --report report.html

## make test: the fast test suite (what CI runs first).
test: install
	$(BIN)/python -m pytest

## make test-slow: end-to-end tests that run Snakemake itself.
test-slow: install
	$(BIN)/python -m pytest -m slow

## make test-slurm: the workflow through profiles/slurm on a real single-node SLURM cluster
## (.ci/slurm-cluster installs Debian's SLURM and starts it; needs root). CI runs it.
test-slurm: install
	$(PIP) -e '.[slurm]'
	bash .ci/slurm-cluster start
	$(BIN)/python -m pytest -m slurm

## make test-gpu: the same code paths on CUDA (on a GPU machine).
test-gpu: install
	$(BIN)/python -m pytest -m gpu

## make lint: Snakemake's linter.
lint: install
	$(BIN)/snakemake --lint

## make bench: speed and memory benchmarks (writes large temporary files).
bench: install
	$(BIN)/python benchmarks/bench_preprocess.py
	$(BIN)/python benchmarks/bench_ridge.py
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_in_context.py
	$(BIN)/python benchmarks/bench_transformer.py
	$(BIN)/python benchmarks/bench_decoder.py
	$(BIN)/python benchmarks/bench_synthesis.py

clean:
	rm -rf results logs resources .snakemake
