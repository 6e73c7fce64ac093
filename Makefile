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
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

test: install
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/genre-tf synth --out $(DEMO)/music --genres 10 --clips 8 --seconds 15
	$(BIN)/genre-tf extract --data $(DEMO)/music --store $(DEMO)/features --features logmel,mfcc

clean:
	rm -rf $(DEMO) .pytest_cache
