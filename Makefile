# Two commands set everything up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The demo's local fake Twilio/Meta (started by `pocketdesk serve` in demo mode).
FAKE_PORT ?= 8090
BENCH ?=
PYTEST_ARGS ?=

.PHONY: bootstrap demo test bench lint serve clean

bootstrap:
	@scripts/bootstrap.sh

demo: export PD_PUBLIC_URL ?= http://127.0.0.1:$(PORT)
demo: export PD_FAKE_PROVIDERS_URL ?= http://127.0.0.1:$(FAKE_PORT)
demo: bootstrap
	@PD_MODE=demo $(BIN)/pocketdesk migrate --no-input -v 0
	@PD_MODE=demo $(BIN)/pocketdesk collectstatic --no-input -v 0
	@PD_MODE=demo $(BIN)/pocketdesk demo-seed --if-empty --customers 2000 --seed 7
	@PD_MODE=demo $(BIN)/pocketdesk serve --port $(PORT)

test: bootstrap
	@PD_MODE=test $(BIN)/pytest $(PYTEST_ARGS)

bench: bootstrap
	@$(BIN)/python bench/run.py $(BENCH)

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PD_MODE=test $(BIN)/mypy
	PD_MODE=test $(BIN)/pocketdesk makemigrations --check --dry-run

serve: bootstrap
	$(BIN)/pocketdesk migrate --no-input
	$(BIN)/pocketdesk collectstatic --no-input -v 0
	$(BIN)/pocketdesk serve --port $(PORT)

clean:
	rm -rf $(VENV) var/static src/pocketdesk/locale/*/LC_MESSAGES/*.mo
