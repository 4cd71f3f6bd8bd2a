# OneMap (一张图) — the two commands: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# Inside an active conda env made from environment.yml, use it as is (no venv).
ifeq ($(CONDA_DEFAULT_ENV),onemap)
  BIN := $(CONDA_PREFIX)/bin
  STAMP := $(CONDA_PREFIX)/.onemap-installed
else
  BIN := $(CURDIR)/.venv/bin
  STAMP := $(CURDIR)/.venv/.onemap-installed
endif
ONEMAP := $(BIN)/onemap

.PHONY: help install run setup test stop bench lint clean

help:
	@echo "make run    set everything up (venv, PostGIS, schema, demo data) and serve http://127.0.0.1:8050"
	@echo "make test   set up and run the test suite against a fresh test database"
	@echo "make stop   stop the dashboard and the embedded PostgreSQL cluster"
	@echo "make bench  run the benchmarks (prints tables)"

# The venv is (re)built only when pyproject.toml changes, so a second `make run` is quick.
$(STAMP): pyproject.toml
ifneq ($(CONDA_DEFAULT_ENV),onemap)
	@test -x $(BIN)/python || $(PYTHON) -m venv .venv || { \
	  echo "[onemap] python3 -m venv failed; installing python3-venv"; \
	  apt-get install -y -qq python3-venv && $(PYTHON) -m venv .venv; }
	$(BIN)/python -m pip install -q --upgrade pip
endif
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	@touch $@

install: $(STAMP)

setup: $(STAMP)
	$(ONEMAP) setup

run: setup
	$(ONEMAP) serve

test: $(STAMP)
	$(ONEMAP) setup --for-tests
	$(BIN)/python -m pytest

stop:
	@if [ -x $(ONEMAP) ]; then $(ONEMAP) stop; else echo "nothing to stop (not installed)"; fi

bench: $(STAMP)
	$(ONEMAP) db up
	DATABASE_URL="$${DATABASE_URL:-$$($(ONEMAP) db url)}" $(BIN)/python bench/run.py

lint: $(STAMP)  ## ruff, as CI runs it before the tests
	$(BIN)/ruff check .

clean: stop
	rm -rf var .venv
