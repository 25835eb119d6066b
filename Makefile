# make demo | make test | make bench | make docs — each bootstraps .venv on a fresh machine (idempotent, quick once set up).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.latentedit-installed

.PHONY: demo test bench docs venv clean-venv

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

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/ops.py
	$(PY) benchmarks/generator.py

# The documentation site into site/ (warnings are errors); regenerates the CLI and API reference pages first.
docs: $(STAMP)
	$(PY) -m pip install -q -e '.[docs]'
	$(PY) docs/gen_reference.py
	$(PY) -m mkdocs build --strict

clean-venv:
	rm -rf $(VENV)
