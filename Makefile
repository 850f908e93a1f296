# Two commands on a fresh machine: `make demo` and `make test` (each creates .venv first).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv lint test demo bench dist version kubernetes clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "outagewatch needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# Two runs: the suite on two processes, each module whole on one of them (its module-scoped
# servers, image and wheel are made once), then the tests marked solo, which measure wall
# time or CPU, alone. Exit status 5 is "no test selected" (PYTEST_ARGS chose none of them).
test: lint
	$(BIN)/pytest -n 2 --dist loadscope -m "not solo" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(BIN)/pytest -m solo $(PYTEST_ARGS) || [ $$? -eq 5 ]

demo: venv
	$(BIN)/outagewatch demo $(DEMO_ARGS)

# Beside Prometheus's blackbox_exporter, installed from Debian when missing (as .ci/run does
# for Dovecot); about 10 minutes. BENCH_ARGS=--full adds 10,000 targets, see docs/BENCHMARKS.md.
bench: venv
	@command -v prometheus-blackbox-exporter >/dev/null 2>&1 || { \
		echo "bench: installing prometheus-blackbox-exporter"; \
		export DEBIAN_FRONTEND=noninteractive; \
		made_policy=""; \
		if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
			made_policy=1; \
		fi; \
		apt-get update -q && apt-get install -y -q --no-install-recommends prometheus-blackbox-exporter; \
		status=$$?; [ -z "$$made_policy" ] || rm -f /usr/sbin/policy-rc.d; exit $$status; }
	$(BIN)/python -m bench $(BENCH_ARGS)

# The sdist and the wheel in dist/, versioned from git (see [tool.setuptools_scm]);
# tests/deploy/test_dist.py installs the wheel into a fresh venv and runs it.
dist: venv
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# The version a build of this tree gets (also for the image: --build-arg OUTAGEWATCH_VERSION).
version: venv
	@$(BIN)/python -m setuptools_scm

# deploy/kubernetes/prometheusrule.yaml from deploy/prometheus/rules.yml, its one source.
kubernetes: venv
	$(BIN)/python deploy/kubernetes/generate.py

clean:
	rm -rf $(VENV) dist build .mypy_cache .ruff_cache .pytest_cache .hypothesis
