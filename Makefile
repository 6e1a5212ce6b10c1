# segkit: the two commands a newcomer needs are `make demo` and `make test`.
# Both create the pinned virtual environment (.venv) on first use.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# The environment is rebuilt when the pins or the project metadata change.
STAMP  := $(VENV)/.installed
DEMO   ?= demo-data
OUT    ?= reports
JOBS   ?= 2

.PHONY: demo test env browser java bench clean

demo: $(STAMP)
	@test -f $(DEMO)/transactions.parquet || $(BIN)/segkit demo --out $(DEMO)
	$(BIN)/segkit report --data $(DEMO) --all --jobs $(JOBS) --out $(OUT)

test: $(STAMP) browser java
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests bench plugins
	$(BIN)/mypy
	CHROMIUM=$(CHROMIUM) $(BIN)/pytest -q

env: $(STAMP)

# The report tests open the HTML in Debian's Chromium (headless, network blocked).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { echo "Installing Debian's chromium for the browser tests ..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| { echo "Could not install chromium: run 'apt-get install chromium' as root, or set CHROMIUM=/path/to/chromium"; exit 2; }; }

# The Spark engine (and its tests) runs on Java 17: Debian's headless runtime.
java:
	@command -v java >/dev/null || { echo "Installing Debian's openjdk-17-jre-headless for Spark ..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null) \
		|| { echo "Could not install Java: run 'apt-get install openjdk-17-jre-headless' as root, or put Java 17 on the PATH"; exit 2; }; }

# pip, setuptools and wheel are pinned too, and the build runs without isolation, so the
# install uses nothing but the versions in constraints.txt.
$(STAMP): pyproject.toml constraints.txt plugins/segkit-service-norms/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt pip setuptools wheel
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-build-isolation \
		-c constraints.txt -e '.[dev,spark]' -e plugins/segkit-service-norms
	@touch $(STAMP)

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(OUT)/*/ $(OUT)/index.html $(DEMO) .pytest_cache .mypy_cache .ruff_cache
