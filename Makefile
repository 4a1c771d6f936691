# The README's two commands: `make demo` (main job on the embedded default) and `make test`.
# Both create .venv when it is missing and install the project into it first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first and on its own, so that no other package pulls a multi-GB CUDA build onto a
# CPU machine. Pin and extra pip arguments (e.g. a CPU wheel index on a laptop) are yours to set.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
# Exact versions of every other dependency, tested together (the numbers in README/docs were measured with them);
# `make LOCK= ...` installs from the version ranges of setup.cfg instead. `make lock` rewrites it from .venv.
LOCK ?= requirements.lock
# llama-cpp-python (the laptop extra, in dev) is compiled from its sdist by pip: skip its multimodal library.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF

.PHONY: demo test lint format install install-run lock base sweep study matched grpo-check formats smoke-study wheelhouse gpu-check bench clean-outputs

# Two installs into the one .venv: `run` (the project and what its jobs need) for the demo and the studies, `dev`
# (run + pytest, ruff and the laptop extra, whose llama.cpp compiles for ~13 min on 2 cores) for tests, lint and bench.
$(VENV)/.installed-run: setup.cfg setup.py $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	$(PY) -m pip install -q -e . $(if $(LOCK),-c $(LOCK))
	touch $@

$(VENV)/.installed: $(VENV)/.installed-run
	$(PY) -m pip install -q -e ".[dev]" $(if $(LOCK),-c $(LOCK))
	touch $@

lock: install
	$(PY) -m pip freeze --exclude-editable | grep -v -i -E '^(torch|nvidia-|triton)[=-]' > $(LOCK)

install: $(VENV)/.installed

install-run: $(VENV)/.installed-run

demo: install-run
	$(PY) -m launch.demo $(ARGS)

# The tests run in TEST_JOBS pytest-xdist workers (the suite is mostly single-threaded: each test pins torch to one
# thread, so two workers use both of CI's cores); `make test TEST_JOBS=0` runs them in this one process.
TEST_JOBS ?= 2
test: install
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadgroup $(ARGS)

# ruff (ruff.toml): the format check and the lint rules; `make format` rewrites the files instead.
lint: install
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# The toy base shipped in data/toy_base/ (launch/prebuilt_base.py; the stages copy it when it was built for their
# config): pretrain the configured base from scratch (~12 min on 2 cores) in an output root of its own, so never from
# a copy, and write it there with its manifest. Run it after changing the world, the tokenizer, `model.arch` or
# `model.pretrain`, and commit data/toy_base/ with that change.
BASE_BUILD_DIR ?= outputs/base_build
base: install-run
	$(PY) -m launch.prebuilt_base output_root=$(BASE_BUILD_DIR) $(ARGS)

# The five conditions of the study on the toy world plus the untrained base (3 seeds, 2 jobs at a time; kd is in
# `make matched`):
# outputs/sweep/multirun/results.md.
# A failed job stops the multirun with its error; the table of the runs that finished is still written.
SWEEP_DIR ?= outputs/sweep/multirun
sweep: install-run
	$(PY) -m launch.pipeline -m +sweep=toy $(ARGS) || { $(PY) -m launch.sweep_report $(SWEEP_DIR); exit 1; }

# The GRPO study (issue 4): a teacher that skips steps; trace_sft vs sft_grpo vs the equal-compute sft_control vs
# pure grpo, 3 seeds (~40 min on 2 cores): outputs/skip_steps/multirun/results.md.
STUDY_DIR ?= outputs/skip_steps/multirun
study: install-run
	$(PY) -m launch.pipeline -m +sweep=skip_steps $(ARGS) || { $(PY) -m launch.sweep_report $(STUDY_DIR); exit 1; }

# Does pure GRPO learn? (issue 16): pure GRPO 300 steps from the toy base with a 256-prompt learning probe, 3 seeds
# (~27 min on 2 cores): outputs/grpo_check/multirun/results.md.
GRPO_CHECK_DIR ?= outputs/grpo_check/multirun
grpo-check: install-run
	$(PY) -m launch.pipeline -m +sweep=grpo_check $(ARGS) || { $(PY) -m launch.sweep_report $(GRPO_CHECK_DIR); exit 1; }

# Data-matched comparison (issue 16): trace_sft, redistill and kd at sft.max_rows=1000 each, base for reference,
# 3 seeds: outputs/matched/multirun/results.md.
MATCHED_DIR ?= outputs/matched/multirun
matched: install-run
	$(PY) -m launch.pipeline -m +sweep=matched $(ARGS) || { $(PY) -m launch.sweep_report $(MATCHED_DIR); exit 1; }

# The format study (issue 17): pre / post / adaptive trace formats, structure ablations and paths per problem as arms
# of trace SFT, 3 seeds, with tokens and seconds per answer, template-shift accuracy and error propagation:
# outputs/formats/multirun/results.md.
FORMATS_DIR ?= outputs/formats/multirun
formats: install-run
	$(PY) -m launch.pipeline -m +sweep=formats $(ARGS) || { $(PY) -m launch.sweep_report $(FORMATS_DIR); exit 1; }

# The reference study's recipe (conf/study/reasoning_distillation.yaml: base + five conditions on Qwen3-1.7B, Slurm)
# end to end on the tiny model, on the shared GSM8K / MATH-500 files and tests/fixtures/study/ (~2 min on 2 cores):
# outputs/smoke_study/multirun/results.json, checked for every row with GSM8K items scored (launch/smoke_study.py).
smoke-study: install-run
	$(PY) -m launch.smoke_study $(ARGS)

# Air-gapped GPU nodes: every dependency except torch as wheels in one folder, for a target Python and platform
# (launch/wheelhouse.sh; README "Air-gapped nodes"). Needs network here, none on the node. Example:
#   make wheelhouse WHEEL_PYTHON=3.12 WHEEL_EXTRA="vllm==0.31.0"
WHEELHOUSE ?= wheelhouse
WHEEL_PYTHON ?= 3.11
WHEEL_PLATFORMS ?= manylinux_2_28_x86_64 manylinux2014_x86_64 manylinux_2_17_x86_64 linux_x86_64
WHEEL_EXTRA ?=
wheelhouse: install
	PY=$(PY) LOCK=$(LOCK) OUT=$(WHEELHOUSE) PYVER=$(WHEEL_PYTHON) PLATFORMS="$(WHEEL_PLATFORMS)" EXTRA="$(WHEEL_EXTRA)" \
		bash launch/wheelhouse.sh

# One CUDA GPU, a few minutes: trace SFT in bf16, GRPO with HF generation, the eval stage on the tiny model, and the
# vLLM paths when vllm imports; one verdict per path (launch/gpu_check.py). On a machine without CUDA it says so and
# exits 2.
gpu-check: install-run
	$(PY) -m launch.gpu_check $(ARGS)

bench: install
	for b in sft rewards eval grpo teacher export; do $(PY) -m bench.$$b || exit 1; done

clean-outputs:
	rm -rf outputs multirun
