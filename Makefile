# Two commands on a fresh machine:  make paper  (all notebooks, default profile, figures/)
#                                   make test   (unit tests + nbval of every notebook, smoke profile)
# To read and run the notebooks by hand:  make lab  (JupyterLab on notebooks/)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
NBVAL_OUT := build/nbval
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: paper test unit nbval smoke dryrun bench lint lab workshop book env clean-build

env: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing icepaper and its dependencies into $(VENV) (first time: a few minutes)"
	@$(BIN)/python -m pip install --quiet --upgrade pip >/dev/null
	@$(BIN)/python -m pip install --quiet -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $@

paper: $(STAMP)  ## run every notebook with the default profile and regenerate figures/
	$(BIN)/icepaper run --profile default

smoke: $(STAMP)  ## every notebook with the smoke profile (what CI runs through nbval)
	$(BIN)/icepaper run --profile smoke

dryrun: $(STAMP)  ## the paper profile's dry run: every notebook at paper shape (ViT-S/16, ResNet-50, 224 px), 300 images, two steps per training
	rm -rf build/paper-dry
	ICEPAPER_HOME=$(CURDIR)/build/paper-dry/home $(BIN)/icepaper run --profile paper --dry-run --no-publish --out build/paper-dry

test: $(STAMP) unit nbval  ## unit tests, then nbval of every notebook under the smoke profile

unit: $(STAMP)  ## unit tests, then the docstring examples of every module (doctests)
	$(BIN)/python -m pytest tests -q --durations=20
	$(BIN)/python -m pytest --doctest-modules src/icepaper -q -p no:cacheprovider

nbval: $(STAMP)
	rm -rf $(NBVAL_OUT)
	$(BIN)/icepaper prepare --profile smoke --out $(NBVAL_OUT)
	$(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-cell-timeout=900 \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg $(NBVAL_OUT)/notebooks

# bench_learning.py's marks for `make bench`: ~90 min on 2 cores (its own default, 1,3,10,20 min, ~4 h)
LEARNING ?= --minutes 1,3,6
bench: $(STAMP)  ## throughput benchmarks and the learning curves (results in build/bench/)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; args=""; \
	  case $$b in *bench_learning.py) args="$(LEARNING)";; esac; \
	  $(BIN)/python $$b $$args || exit 1; done

lab: $(STAMP)  ## JupyterLab on notebooks/, to read and run the notebooks by hand
	$(BIN)/jupyter lab notebooks/

lint: $(STAMP)  ## ruff, and the committed notebooks are default-profile outputs (the pre-commit hooks)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/python tools/check_notebooks.py

workshop: $(STAMP)  ## a workshop kit: every notebook run once with the workshop profile (prepares the cached data and networks; fresh machine ~1.5 h, then <=15 min), student copies in build/workshop/notebooks/
	$(BIN)/icepaper run --profile workshop --out build/workshop/prepared
	$(BIN)/python tools/student_copies.py --out build/workshop/notebooks
	@echo "workshop kit ready: students open build/workshop/notebooks/ (make lab); the prepared cache is in data/ (or ICEPAPER_HOME)"

clean-build:
	rm -rf build

book: $(STAMP)  ## the committed notebooks in order as a static HTML book (build/book/index.html)
	$(BIN)/python tools/build_book.py
