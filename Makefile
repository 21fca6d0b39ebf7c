# The clinic assistant. `make help` lists the targets; `make run` and `make test` are all a newcomer needs.
# Every step is a file target, so a second `make run` reinstalls and retrains nothing.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Rasa 3.6 needs Python 3.10 (< 3.11). Take the first python3.10 that actually runs
# (a pyenv shim named python3.10 can exist without the version being selected).
PYTHON ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

VENV        := .venv
BIN         := $(VENV)/bin
INSTALLED   := $(VENV)/.installed
SPACY_MODEL := .spacy/en_clinic
SPACY_READY := $(SPACY_MODEL)/meta.json
MODEL       := models/clinic-assistant.tar.gz
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml') $(wildcard clinic_nlu/*.py) runtime/training.py runtime/train.py runtime/rule_policy.py $(SPACY_READY)

export PYTHONPATH := $(CURDIR)
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2
# Rasa's telemetry would send usage events and error reports (Sentry) with stack traces off
# the machine; a clinic's assistant sends nothing anywhere.
export RASA_TELEMETRY_ENABLED := false
RASA := $(BIN)/rasa

.PHONY: help install spacy train run shell validate crossval heldout compare browser services audit soak bench check report lint test test-fast test-unit test-stories lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(INSTALLED): requirements.txt
	@test -n "$(PYTHON)" || { echo "python3.10 not found: Rasa 3.6 needs Python 3.10 (see README)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==24.0
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

install: $(INSTALLED) ## Create .venv with python3.10 and install the pinned requirements

$(SPACY_READY): $(INSTALLED) clinic_nlu/spacy_pipeline.py
	rm -rf $(SPACY_MODEL)
	$(BIN)/python -m clinic_nlu.spacy_pipeline $(SPACY_MODEL)

spacy: $(SPACY_READY) ## Build the project's own spaCy pipeline (no download)

# Rasa itself skips components whose inputs did not change; `touch` marks the model current
# even when Rasa decided there was nothing to retrain. `rasa train` through runtime/training.py:
# the same graph Rasa builds from config.yml, except that the NLU components never see the
# answers' wording, so an edited answer retrains nothing but the domain.
$(MODEL): $(TRAINING_INPUTS)
	$(BIN)/python -m runtime.train --fixed-model-name clinic-assistant --out models
	touch $@

train: $(MODEL) ## Train the model (only when data or config changed)

run: $(MODEL) ## Install, build, train if needed, then start the action server, Rasa and the staff console together
	scripts/serve.sh run

shell: $(MODEL) ## Chat with the assistant in the terminal
	scripts/serve.sh shell

validate: $(SPACY_READY) ## Check the training data and domain (rasa data validate --fail-on-warnings)
	$(RASA) data validate --fail-on-warnings

crossval: $(SPACY_READY) ## 5-fold cross-validation of the NLU pipeline (reports in results/crossval)
	$(RASA) test nlu --nlu data --config config.yml --cross-validation --folds 5 --out results/crossval

heldout: $(MODEL) ## Score the model on the held-out questions (never trained on); the figures in docs/figures.md
	$(BIN)/python -m tools.evaluation $(MODEL) tests/heldout/faq_heldout.yml tests/heldout/clinic_heldout.yml \
	  tests/heldout/red_flag_heldout.yml tests/heldout/red_flag_final.yml tests/heldout/precautions_heldout.yml
	@echo "The unseen red-flag set (written after the safety net was built; never read message by message):"
	$(BIN)/python -m tools.evaluation $(MODEL) tests/heldout/red_flag_unseen.yml | tail -n 1
	@echo "Real visitors' voice, judged by the replies through the REST channel (tests/realvoice/): the two development"
	@echo "sets with their misses, then the sealed set, figures only (never read message by message):"
	$(BIN)/python -m tools.real_voice --model $(MODEL) tests/realvoice/dev.yml tests/realvoice/dev2.yml
	$(BIN)/python -m tools.real_voice --model $(MODEL) --quiet tests/realvoice/sealed.yml

compare: $(SPACY_READY) ## Cross-validate config.yml as the assistant is judged, and show fallback thresholds
	$(BIN)/python -m tools.compare_pipelines config.yml --folds 3

# The widget's browser tests drive Debian's Chromium (Playwright never downloads a browser here).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	@echo "Installing Debian's chromium for the widget's browser tests"
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core \
	  || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; }

browser: $(CHROMIUM) ## Install Debian's Chromium for the browser tests (only when missing)

# The multi-server test (tests/test_cluster.py) runs Debian's PostgreSQL, Redis and nginx on
# loopback, started by the test itself; Debian's policy keeps apt from starting them here. The
# staff console's nginx test makes its self-signed certificate with openssl.
POSTGRES_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
SERVICE_PACKAGES := $(if $(POSTGRES_INITDB),,postgresql) $(if $(wildcard /usr/bin/redis-server),,redis-server) $(if $(wildcard /usr/sbin/nginx),,nginx) $(if $(wildcard /usr/bin/openssl),,openssl)

services: ## Install Debian's PostgreSQL, Redis, nginx and openssl for the multi-server and console tests (only when missing)
ifneq ($(strip $(SERVICE_PACKAGES)),)
	@echo "Installing Debian's $(strip $(SERVICE_PACKAGES)) for the multi-server and console tests"
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SERVICE_PACKAGES) \
	  || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SERVICE_PACKAGES); }
else
	@true
endif

test-fast: $(INSTALLED) ## The unit tier of pytest: no trained model, no servers, no apt (under a minute)
	FEWER_EXAMPLES=1 $(BIN)/python -m pytest -q -m unit -n auto

test-unit: $(MODEL) $(CHROMIUM) services ## pytest, every tier: unit, model, servers (browser included) and system
	$(BIN)/python -m pytest -q tests

lint: $(INSTALLED) ## ruff check, ruff format --check, and the package layers of docs/architecture.md (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

test-stories: $(MODEL) ## Conversation tests with the visitor's text
	$(RASA) test core --model $(MODEL) --stories tests/test_stories.yml --e2e --fail-on-prediction-errors --out results/stories

check: $(SPACY_READY) ## For staff after editing answers or examples: check the data (naming file and line), train, run the conversation tests
	@echo "1/4 Topic files (each problem names the file and line to fix):"
	$(BIN)/python -m tools.faq_conventions data/faq
	@echo "2/4 Rasa's own data checks:"
	$(RASA) data validate --fail-on-warnings
	@echo "3/4 Training (only what changed):"
	$(MAKE) --no-print-directory train
	@echo "4/4 Conversation tests:"
	$(MAKE) --no-print-directory test-stories
	@echo "All checks passed. Press Publish in the staff console, or restart the assistant (make run), to publish the new model."

report: $(INSTALLED) ## For staff: what visitors asked that the assistant could not answer, most asked topics, red flags and bookings per week
	$(BIN)/python -m tools.visitor_report

soak: $(MODEL) ## Load soak on loopback: 50 website conversations for 5 minutes, FAQs and bookings; prints the figures (make test runs a 60 s form)
	$(BIN)/python -m tools.soak --conversations 50 --seconds 300 --window-seconds 60 --out results/soak/soak.json

bench: $(SPACY_READY) ## Benchmark against Rasa's stock starter project (rasa init) in one run; appends to docs/benchmarks.md (NOTE="what changed")
	$(BIN)/python -m tools.bench --note "$(NOTE)"

# pip-audit lives in a venv of its own, so its pins never move Rasa's.
AUDIT_VENV := .venv-audit
$(AUDIT_VENV)/.installed: requirements-audit.txt
	@test -n "$(PYTHON)" || { echo "python3.10 not found (see README)"; exit 1; }
	test -x $(AUDIT_VENV)/bin/python || $(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-audit.txt
	touch $@

audit: $(AUDIT_VENV)/.installed ## Check the pinned requirements for known vulnerabilities (pip-audit): fails on one that has a fix
	$(AUDIT_VENV)/bin/python -m tools.audit --pip-audit $(AUDIT_VENV)/bin/pip-audit $(AUDIT_ARGS) requirements.txt

test: lint validate audit test-unit test-stories ## Everything: install, lint, build, train, validate, audit, pytest, conversation tests

lock: ## Re-resolve requirements.in into the pinned requirements.txt lock
	rm -rf /tmp/clinic-lock-venv && $(PYTHON) -m venv /tmp/clinic-lock-venv
	/tmp/clinic-lock-venv/bin/pip install --quiet pip==24.0 && /tmp/clinic-lock-venv/bin/pip install --quiet -r requirements.in
	{ echo "# Full lock of every package the project installs (python3.10). Direct needs are in requirements.in;"; \
	  echo "# regenerate with: make lock"; /tmp/clinic-lock-venv/bin/pip freeze; } > requirements.txt

clean: ## Remove the venv, spaCy pipeline, models and results
	rm -rf $(VENV) $(AUDIT_VENV) .spacy models results .pytest_cache
