# Gateflow: `make run` and `make test` set up everything from nothing.
# TORCH_SPEC picks the torch build; the default is the CPU wheel (an unpinned "torch" pulls the
# multi-gigabyte CUDA build). For CUDA: make run TORCH_SPEC="torch==2.13.0 --index-url <CUDA index>"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium

.PHONY: run run-workers test lint unit e2e bench chromium redis clean docker-smoke

$(BIN)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.dev: $(BIN)/.base
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# Host, port and limits come from GATEFLOW_* variables, e.g. GATEFLOW_PORT=9000 make run
run: $(BIN)/.base
	$(BIN)/python -m app

# Debian's Chromium for the browser tests (never `playwright install`: it downloads a browser).
chromium:
	@if [ -x "$(CHROMIUM)" ]; then echo "chromium: $(CHROMIUM)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif command -v sudo >/dev/null; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium: cannot install here; browser tests will fail" >&2; exit 1; fi

# Debian's redis-server for the rooms' tests across workers (tests/app/test_rooms_live.py) and
# `make run-workers`; the tests start their own on a free loopback port.
redis:
	@if command -v redis-server >/dev/null; then echo "redis-server: $$(command -v redis-server)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	elif command -v sudo >/dev/null; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else echo "redis-server: cannot install here; the rooms' Redis tests will fail" >&2; exit 1; fi

# N workers behind one port, sharing classroom rooms through a local Redis (WORKERS=3 by default).
WORKERS ?= 3
REDIS_PORT ?= 6380
run-workers: $(BIN)/.base redis
	redis-server --port $(REDIS_PORT) --bind 127.0.0.1 --save "" --appendonly no --daemonize yes
	GATEFLOW_BROKER_URL=redis://127.0.0.1:$(REDIS_PORT)/0 GATEFLOW_PROCESSES=$(WORKERS) $(BIN)/python -m app

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: $(BIN)/.dev redis
	$(BIN)/pytest

# The browser tests run in their own pytest process (pytest-playwright's loop and async tests clash).
e2e: $(BIN)/.dev chromium
	GATEFLOW_CHROMIUM=$(CHROMIUM) $(BIN)/pytest tests/e2e -p no:cacheprovider -o addopts="-q"

test: lint unit e2e

bench: $(BIN)/.base
	$(BIN)/python bench/engine.py

docker-smoke:
	bash scripts/docker-smoke.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
