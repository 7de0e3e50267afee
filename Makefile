# The README's two commands are `make book` and `make test`; both create or refresh
# the local virtualenv (.venv) from the pins in pyproject.toml + constraints.txt first.
PYTHON ?= python3
VENV   ?= .venv
PRESET ?= top10
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lmeqtl-installed

.PHONY: help env test lint book smoke-book bench clean

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

book: $(STAMP)  ## run the pipeline on PRESET (default top10) and build the HTML book
	$(BIN)/lmeqtl book --preset $(PRESET)

smoke-book: $(STAMP)  ## the tiny CI preset of the book
	$(BIN)/lmeqtl book --preset smoke

bench: $(STAMP)  ## CPU benchmarks -> benchmarks/RESULTS.md
	$(BIN)/python -m benchmarks

clean:  ## remove build outputs (keeps .venv and data/)
	rm -rf book/_build book/chapters .pytest_cache .ruff_cache
