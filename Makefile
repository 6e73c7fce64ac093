# `make test` and `make demo` each set up .venv on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo-work

.PHONY: test demo install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,serve,ray]'
	# musicnn's trained weights: its metadata pins numpy<1.17, so no dependencies (genre-tf reads its files only)
	$(BIN)/python -m pip install --quiet --no-deps musicnn==0.1.0
	touch $@

test: install
	$(BIN)/python -m pytest -q

demo: install
	rm -rf $(DEMO)/runs $(DEMO)/reports
	DEMO_DIR=$(DEMO) GENRE_TF=$(BIN)/genre-tf bash scripts/demo.sh

clean:
	rm -rf $(DEMO) .pytest_cache
