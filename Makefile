# Two entry points (see README): `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast lint sample benchmarks docs docs-full tutorials dist clean

setup: $(STAMP)

# The CPU build of torch is installed first (torch 2.13.0 lies on disk on our machines; elsewhere
# pip fetches it), so that `torch>=2.2` in pyproject.toml never pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "torch==2.13.0" \
		|| $(PY) -m pip install --quiet "torch>=2.2"
	$(PY) -m pip install --quiet -e ".[test,docs]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/retinacodec demo --out demo_out

test: $(STAMP)
	$(PY) -m ruff check retinacodec tests benchmarks tutorials
	$(PY) -m pytest -n 2 --dist loadgroup -q -rs --durations=10

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -q -m "not slow"

# The documentation: warnings are errors, cross-references checked (nitpicky); the tutorials run in
# their quick mode (docs-full: in full). Output: docs/_build/html/index.html.
SPHINXOPTS ?= -W --keep-going -n
docs: $(STAMP)
	OMP_NUM_THREADS=2 $(VENV)/bin/sphinx-build -b html $(SPHINXOPTS) docs docs/_build/html

docs-full: $(STAMP)
	RETINACODEC_DOCS_FULL=1 $(VENV)/bin/sphinx-build -b html $(SPHINXOPTS) docs docs/_build/html-full

# The six tutorials, full versions, executed to notebooks with their outputs in tutorials/_build/ (not part of
# `make test`: an hour or so on a laptop CPU). One: `make tutorials T="03 05"`; quick: RETINACODEC_QUICK=1.
tutorials: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PY) tutorials/execute.py $(T)

# A wheel and an sdist (the shipped sample included) in dist/.
dist: $(STAMP)
	$(PY) -m build --no-isolation --outdir dist .

sample: $(STAMP)
	$(VENV)/bin/retinacodec simulate retinacodec/data/sample.nwb --seed 0 --train-seconds 1200 --overwrite

benchmarks: $(STAMP)
	$(PY) benchmarks/bench_training_throughput.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache .ruff_cache dist docs/_build docs/auto_tutorials docs/api/generated \
		docs/tutorial_sources docs/sg_execution_times.rst tutorials/_build docs/api/retinacodec*.rst
