# Entry points of the grasp stack. Every target sets up what it needs first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Every target runs inside the stack's environment: venv, ROS 2 (wheels or /opt/ros/jazzy), install/.
IN_ENV := . scripts/ros_env.sh &&
export MUJOCO_GL ?= egl

# `make demo OBJECTS=../shared/data/egad_eval_set TRIALS=5 SETUP=kinova`
OBJECTS ?= procedural
TRIALS ?= 3
SETUP ?= widowx
DEMO_REPORT ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: setup test demo bench eval ablation clean-venv

setup:
	@bash scripts/setup.sh

test: setup
	$(IN_ENV) python -m pytest -q

demo: setup
	$(IN_ENV) python -m grasp_bringup.session $(SETUP) use_sim:=true objects:=$(OBJECTS) \
		trials_per_object:=$(TRIALS) output_dir:=$(DEMO_REPORT)

# `make bench` = the full suite (~40 min on 2 cores); `make bench BENCH_ARGS=--quick` in under a minute.
BENCH_ARGS ?=
bench: setup
	$(IN_ENV) python -m grasp_perception.benchmark $(BENCH_ARGS)
	$(IN_ENV) python benchmarks/bench_sim.py
	$(IN_ENV) python benchmarks/bench_plan_grasp.py

# `make eval MODEL=models/default` = the standard simulated matrix (EGAD x 3 grippers, clutter 5 and 15, friction
# sweep; hours on 2 cores, resumable); `make eval EVAL_ARGS=--quick` in a few minutes.
MODEL ?= default
EVAL_ARGS ?=
eval: setup
	$(IN_ENV) python -m grasp_sim.benchmark --model $(MODEL) $(EVAL_ARGS)

# `make ablation` = the Gaussian-maps ablation, trained and grasped (days on 2 cores); `ABLATION_ARGS="--profile cpu"`
# (binary vs strong maps, 2 seeds, 3 epochs) in about an hour; `ABLATION_ARGS=--quick` in a minute.
ABLATION_ARGS ?=
ablation: setup
	$(IN_ENV) python -m grasp_sim.ablation $(ABLATION_ARGS)

clean-venv:
	rm -rf $(VENV)
