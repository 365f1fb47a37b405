# One command per job. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= outputs/demo

.PHONY: demo test install lab bench clean-venv browser-deps

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name ooa-review --display-name "OOA review (project .venv)" >/dev/null
	@# the postcode points cache, made once here rather than on the first run of a stage
	$(BIN)/python -c "from review_lib.geography import load_points; load_points()"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ooa-review demo --out $(DEMO) --force

# JupyterLab on the notebooks, with the project's kernel ("OOA review (project .venv)") and the
# parameters cells pointing at the demo review (made first if missing).
lab: $(STAMP)
	@test -f $(DEMO)/check/answers.csv || $(BIN)/ooa-review demo --out $(DEMO) --force
	cd notebooks && ../$(BIN)/jupyter lab --ServerApp.root_dir=. $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

# Every benchmark, each printing its ratio against a floor measured in the same run.
bench: $(STAMP)
	$(BIN)/python benchmarks/check_returns.py
	$(BIN)/python benchmarks/report_build.py
	$(BIN)/python benchmarks/frame_scale.py

# `make test` leaves out checks marked slow; .ci/run runs everything (SLOW=1).
test: $(STAMP)
	$(BIN)/python -m pytest -q $(if $(SLOW),,-m "not slow") $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)

# Real programs the tests drive: Chromium (report pages) and LibreOffice Calc (workbooks).
# Debian packages; needs root (CI runs as root). Tests that need them skip, with the reason, without them.
browser-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium libreoffice-calc-nogui
