# One Makefile with the commands everyone uses. Every target sets up its own venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXAMPLES := $(wildcard examples/*/*.fdsl)

.PHONY: demo test conformance lint fmt fuzz bench bench-scale golden clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/featuredsl check examples/churn/churn.fdsl
	$(VENV)/bin/featuredsl build examples/churn/churn.fdsl --data examples/churn/train.csv --out build/churn
	$(VENV)/bin/featuredsl parity build/churn --data examples/churn/train.csv

test: $(STAMP)
	$(VENV)/bin/featuredsl check $(EXAMPLES)
	$(PY) -m pytest -q -n 2 -m "not slow"

# Every runtime of the matrix x every optimization level x every example, and every primitive's
# edge cases on every runtime (installs the runtimes once into ~/.cache/featuredsl/runtimes, or
# $$FEATUREDSL_RUNTIME_CACHE).
conformance: $(STAMP)
	$(PY) -m pytest -q -n 2 -rx tests/test_runtime_matrix.py tests/test_runtime_matrix_ops.py

lint: $(STAMP)
	$(VENV)/bin/ruff check featuredsl tests bench
	$(VENV)/bin/ruff format --check featuredsl tests bench
	$(VENV)/bin/mypy featuredsl

fmt: $(STAMP)
	$(VENV)/bin/ruff format featuredsl tests bench
	$(VENV)/bin/ruff check --fix featuredsl tests bench

# The differential fuzzer at 10,000 specs (make test runs 60 and replays tests/fuzz_regressions),
# then the long tests that `make test` bounds: the full spec-text mutation run (24,000 texts),
# the build of a 1,000,000-string vocabulary, and Python's round/%/// semantics on 1,000,000
# values per case (1,500 in `make test`; about 1.3 s of CPU per 1,000).
fuzz: $(STAMP)
	FEATUREDSL_FUZZ_EXAMPLES=10000 $(PY) -m pytest -q -n 2 tests/test_fuzz_parity.py -p no:randomly
	$(PY) -m pytest -q -n 2 -m slow tests/test_spec_text_mutations.py tests/test_big_vocabulary.py -p no:randomly
	FEATUREDSL_SEMANTICS_SAMPLES=1000000 $(PY) -m pytest -q -n 2 tests/test_python_semantics.py -p no:randomly

bench: $(STAMP)
	$(PY) bench/run.py --rows 1000000 --out bench/RESULTS.md
	$(PY) bench/bench_pit.py --labels 10000000 --features 1000000 --out bench/PIT_RESULTS.md
	$(PY) bench/bench_windows.py --labels 1000000 --events 50000000 --rounds 3 --skip 'pandas rolling' --out bench/WINDOWS_RESULTS.md
	$(PY) bench/bench_windows_serve.py --rounds 30 --calls 200 --out bench/WINDOWS_SERVE_RESULTS.md
	$(PY) bench/bench_serve.py --rounds 15 --calls 200 --out bench/SERVE_RESULTS.md

# Streaming fit/transform at 1M / 10M / 50M rows of generated partitioned Parquet (under
# build/scale-data, generated once from a seed), single process and Dask with 2 workers.
bench-scale: $(STAMP)
	$(PY) bench/bench_scale.py --sizes 1000000 10000000 50000000 --out bench/SCALE.md

golden: $(STAMP)
	$(PY) -m pytest -q tests/test_golden.py --update-golden

clean:
	rm -rf $(VENV) build
