# OpenECS: one entry point for newcomers, developers and CI.
#   make demo   start OpenECS and deploy the e-commerce shop on it (demo-blackfriday: the spike)
#   make up     start OpenECS: the server plus FARGATE capacity on the local Docker engine
#   make test   lint, the demo's images (built once, cached), the whole test suite (installs what it needs)
#   make lint   ruff, mypy, import-linter
#   make bench  the benchmarks under bench/

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: venv up test lint bench system-deps clean demo demo-blackfriday demo-images

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	@$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

system-deps:
	@scripts/system-deps.sh

up: venv
	@scripts/system-deps.sh
	$(BIN)/openecs up --data-dir .openecs

# The showcase: the shop on OpenECS (starts `openecs up` in the background if none runs),
# then the Black Friday spike. Extra options: make demo-blackfriday DEMO_ARGS="--duration 120"
demo: venv
	$(BIN)/openecs demo --data-dir .openecs $(DEMO_ARGS)

demo-blackfriday: venv
	$(BIN)/openecs demo blackfriday --data-dir .openecs $(DEMO_ARGS)

# The showcase's images, built offline and cached by content (the e2e tests use them).
demo-images: venv system-deps
	$(BIN)/openecs demo images --skip-system-deps

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: venv system-deps lint demo-images
	$(BIN)/pytest -n 2 --dist loadgroup --reruns 2 --reruns-delay 1 -rfER --durations=25 $(PYTEST_ARGS)

bench: venv system-deps
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .openecs
