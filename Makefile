# The README's two commands are `make book` and `make test`; both create or refresh
# the local virtualenv (.venv) at the exact versions of constraints.txt (the lock) first.
PYTHON ?= python3
VENV   ?= .venv
PRESET ?= top10
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lmeqtl-installed

.PHONY: help env beagle test lint book smoke-book weights bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e '.[sim,book,dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name lmeqtl \
		--display-name "Python (lmeqtl)" >/dev/null
	@touch $(STAMP)

env: $(STAMP)  ## create/refresh .venv and the `lmeqtl` Jupyter kernel

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check lmeqtl tests benchmarks

test: $(STAMP) lint  ## lint + the whole test suite (includes the smoke book)
	$(BIN)/python -m pytest -q

# Optional: Beagle 5 for RQ1's comparison. Installed with apt-get when this runs as root on
# Debian/Ubuntu; otherwise (or if apt fails) RQ1 runs without it and says so.
beagle:  ## optional: install Beagle 5 (Debian package) for RQ1; skipped with a message when impossible
	@if command -v beagle >/dev/null 2>&1 || [ -n "$$LMEQTL_BEAGLE" ]; then \
		echo "beagle: found"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		{ apt-get update -qq >/dev/null && apt-get install -y -qq beagle >/dev/null && echo "beagle: installed"; } \
		|| echo "beagle: apt-get could not install it; RQ1 runs without the Beagle column"; \
	else \
		echo "beagle: not installed (needs root apt-get; see README); RQ1 runs without the Beagle column"; \
	fi

book: $(STAMP) beagle  ## run the pipeline on PRESET (default top10) and build the HTML book
	$(BIN)/lmeqtl book --preset $(PRESET)

smoke-book: $(STAMP)  ## the tiny CI preset of the book
	$(BIN)/lmeqtl book --preset smoke

# Hours on 2 CPU cores; resumable: run it again after an interruption (state in runs/weights-PRESET).
weights: $(STAMP)  ## retrain the pretrained weights shipped in lmeqtl/weights/PRESET (lmeqtl weights)
	$(BIN)/lmeqtl weights --preset $(PRESET) --threads 2

bench: $(STAMP)  ## CPU benchmarks -> benchmarks/RESULTS.md
	$(BIN)/python -m benchmarks

clean:  ## remove build outputs (keeps .venv and data/)
	rm -rf book/_build book/chapters .pytest_cache .ruff_cache
