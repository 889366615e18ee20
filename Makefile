# role-vectors: `make demo` runs the main job on the bundled demo model, `make test` runs every test.
# Both build the virtual environment first (Python 3.11). On a CPU machine the torch CPU wheel is
# pinned here; the package itself accepts torch>=2.4, so on a GPU machine install your own torch.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
ROLE   ?= mathematician
TEST   ?= math

.PHONY: demo test venv dev bench clean export docs-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

.stamp-venv: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e .
	touch $@

.stamp-dev: .stamp-venv
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

venv: .stamp-venv
dev: .stamp-dev

demo: .stamp-venv
	$(BIN)/role-vectors run --model_path demo --role $(ROLE) --test $(TEST) --n_train 40 --out_dir runs

test: .stamp-dev
	$(BIN)/python tools/run_tests.py

bench: .stamp-dev
	$(BIN)/python bench/extract.py
	$(BIN)/python bench/sweep.py

export: .stamp-dev
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean

clean:
	rm -rf $(VENV) .stamp-venv .stamp-dev runs _proc _docs
