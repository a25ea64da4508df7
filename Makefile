# `make run`: set up .venv, install raycnn, run the offline quickstart sweep (digits, Ray Tune, ASHA)
#             and its report (python -m analysis).
# `make test`: set up .venv, install raycnn with its test tools, check the code (ruff, import contracts in
#             pyproject.toml), run the test suite on three pytest-xdist workers (on two cores: a third fills
#             the seconds a Ray sweep waits on its processes; 8.4-9.4 min against 9.3 with two from fresh
#             clones of 2026-12-05's first code), handed tests one at a time (--maxschedchunk 1: xdist's default first
#             chunks gave every slow test to one worker);
#             PYTEST_WORKERS=-n0: one process; PYTEST_ARGS=... passes more options to pytest.
# `make test-all`: the suite plus every shipped sweep file run end to end through Ray (slow: ~20 min more).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.raycnn-installed
PYTEST_WORKERS ?= -n 3 --dist load --maxschedchunk 1

.PHONY: run test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	name=quickstart-$$(date +%Y%m%d-%H%M%S) && \
	$(PY) -m raycnn.sweep sweeps/quickstart.yaml --name $$name && \
	$(PY) -m analysis runs/$$name

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-all: $(STAMP)
	RAYCNN_TEST_ALL=1 $(PY) -m pytest -q $(PYTEST_WORKERS) $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs build *.egg-info
