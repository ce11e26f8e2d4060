# Everything runs from a local virtualenv, so it works where the system Python refuses
# global installs (PEP 668). `make run` opens the main job; `make test` runs the suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/steersim

# Exit 5 means pytest collected no tests: a suite that checks nothing must not pass.
test: $(STAMP)
	@QT_QPA_PLATFORM=offscreen SDL_VIDEODRIVER=dummy $(PY) -m pytest -q -p no:cacheprovider; \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(VENV)/bin/steersim bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
