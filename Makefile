# Entry points of the grasp stack. Every target sets up what it needs first.
VENV ?= .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl

.PHONY: setup test bench clean-venv

setup:
	@bash scripts/setup.sh

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_networks.py

clean-venv:
	rm -rf $(VENV)
