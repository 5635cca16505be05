# Entry points of the grasp stack. Every target sets up what it needs first.
VENV ?= .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl

# `make demo OBJECTS=../shared/data/egad_eval_set TRIALS=5 GRIPPER=widowx`
OBJECTS ?= procedural
TRIALS ?= 3
GRIPPER ?= floating
DEMO_REPORT ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: setup test demo bench clean-venv

setup:
	@bash scripts/setup.sh

test: setup
	$(PY) -m pytest -q

demo: setup
	$(PY) -m grasp_sim.trials --model default --objects $(OBJECTS) --trials-per-object $(TRIALS) \
		--gripper $(GRIPPER) --report $(DEMO_REPORT)

bench: setup
	$(PY) benchmarks/bench_networks.py
	$(PY) benchmarks/bench_sim.py

clean-venv:
	rm -rf $(VENV)
