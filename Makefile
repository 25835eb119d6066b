# make demo | make test | make bench | make docs — each bootstraps .venv on a fresh machine (idempotent, quick once set up).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.latentedit-installed

.PHONY: demo test bench bench-speed bench-gpu docs venv clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	@# A stale egg-info from an old editable install would shadow the venv's entry points under pytest.
	rm -rf latentedit.egg-info
	$(PY) -m pip install -q -e '.[dev]'
	@# Pre-build the native CPU kernels once (cached by source hash); on failure the reference ops are used.
	-$(VENV)/bin/latentedit ops build --cpu
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/latentedit demo --out out/demo

# The fast suite, spread over up to 4 worker processes (pytest-xdist; one per CPU on smaller machines).
test: $(STAMP)
	$(PY) -m pytest -q -n auto --maxprocesses 4

bench: $(STAMP)
	$(PY) benchmarks/ops.py
	$(PY) benchmarks/generator.py

# The documentation site into site/ (warnings are errors); regenerates the CLI and API reference pages first.
docs: $(STAMP)
	$(PY) -m pip install -q -e '.[docs]'
	$(PY) docs/gen_reference.py
	$(PY) -m mkdocs build --strict
# Issue 29's measurements (long on 2 cores): shares of the interleaved conv peak, bf16 per layer and per policy,
# one 256-px mapper training step and one 1024-px photo edit, broken down.
bench-speed: $(STAMP)
	$(PY) benchmarks/peak.py
	$(PY) benchmarks/trainer_step.py
	$(PY) benchmarks/edit.py

# On a CUDA machine: the CUDA kernels against their reference twins (forward and gradients), then synthesis
# throughput as a share of the GPU's own conv peak. Skips cleanly (no tests selected / a clear message) without a GPU.
bench-gpu: $(STAMP)
	$(PY) -m pytest -q -m gpu tests/core/test_ops_cuda.py
	@if $(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then \
		$(PY) benchmarks/peak.py --synthesis --device cuda --sizes 1024:1,256:4,256:32; \
	else echo "bench-gpu: no CUDA device visible; synthesis benchmark skipped"; fi

clean-venv:
	rm -rf $(VENV)
