# The README's two commands: `make demo` (main job on the embedded default) and `make test`.
# Both create .venv when it is missing and install the project into it first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first and on its own, so that no other package pulls a multi-GB CUDA build onto a
# CPU machine. Pin and extra pip arguments (e.g. a CPU wheel index on a laptop) are yours to set.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=

.PHONY: demo test install sweep bench clean-outputs

$(VENV)/.installed: setup.cfg setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m launch.demo $(ARGS)

test: install
	$(PY) -m pytest -q $(ARGS)

bench: install
	for b in sft rewards eval grpo; do $(PY) -m bench.$$b || exit 1; done

clean-outputs:
	rm -rf outputs multirun
