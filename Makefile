# llama-lab: `make lab` sets everything up and opens JupyterLab; `make test` runs every test.
PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is pinned through constraints.txt so that no dependency can swap in another build
INSTALL := $(PIP) install -q -c constraints.txt

.PHONY: venv lab test test-fast data bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(INSTALL) --upgrade pip
	$(INSTALL) torch==2.13.0
	$(INSTALL) -e ".[lab,dev]"
	touch $@

venv: $(VENV)/.installed

lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root,)

# Every test: unit tests, nbval on every notebook, the browser test (Debian's Chromium, installed if missing).
test: $(VENV)/.installed
	bash scripts/install_system_packages.sh
	$(PY) -m pytest tests/ notebooks/ --nbval -p no:cacheprovider \
		--nbval-sanitize-with notebooks/sanitize.cfg --nbval-current-env

# The unit tests alone (no notebooks).
test-fast: $(VENV)/.installed
	$(PY) -m pytest tests/ -q

# Rebuild the tiny world, the kit's tokenizer and the tiny base and chat models from nothing.
data: $(VENV)/.installed
	$(PY) -m llama_lab.build_data

bench: $(VENV)/.installed
	$(PY) -m llama_lab.bench

clean:
	rm -rf $(VENV) .pytest_cache
