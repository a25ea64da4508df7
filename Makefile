# `make run`: set up .venv, install raycnn, run the offline quickstart sweep (digits, Ray Tune, ASHA)
#             and its report (python -m analysis).
# `make test`: set up .venv, install raycnn with its test tools, run the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.raycnn-installed

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	name=quickstart-$$(date +%Y%m%d-%H%M%S) && \
	$(PY) -m raycnn.sweep sweeps/quickstart.yaml --name $$name && \
	$(PY) -m analysis runs/$$name

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs build *.egg-info
