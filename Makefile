# llama-lab: `make lab` sets everything up and opens JupyterLab; `make test` runs every test.
PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is pinned through constraints.txt so that no dependency can swap in another build
INSTALL := $(PIP) install -q -c constraints.txt

.PHONY: venv lab test test-fast data rlhf bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(INSTALL) --upgrade pip
	$(INSTALL) torch==2.13.0
	$(INSTALL) -e ".[lab,dev]"
	touch $@

venv: $(VENV)/.installed

lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root,)

# Every test: the unit tests (the browser test and the grader's sandbox need Debian's Chromium and bubblewrap,
# installed if missing), then nbval on every notebook. The notebooks' saved outputs are a fresh clone's (the kit's
# tiny models), so their kernels run without the user's Llama 2 settings; the unit tests keep them (those that
# compare with Llama 2's own tokenizer use them).
test: $(VENV)/.installed
	bash scripts/install_system_packages.sh
	$(PY) -m pytest tests/ -p no:cacheprovider
	env -u LLAMA2_DIR -u LLAMA2_BASE_DIR -u LLAMA2_CHAT_DIR -u LLAMA2_TOKENIZER \
		$(PY) -m pytest notebooks/ --nbval -p no:cacheprovider --nbval-sanitize-with notebooks/sanitize.cfg --nbval-current-env

# The unit tests alone (no notebooks).
test-fast: $(VENV)/.installed
	$(PY) -m pytest tests/ -q

# Rebuild the tiny world, the kit's tokenizer and the tiny base and chat models from nothing.
data: $(VENV)/.installed
	$(PY) -m llama_lab.world.build

# RLHF in miniature on the tiny chat model: comparisons, reward models, rejection sampling, PPO, DPO, the safety
# table; then the reward models, the best aligned model and every figure are copied into data/.
rlhf: $(VENV)/.installed
	$(PY) -m llama_lab.rlhf.pipeline --ship

bench: $(VENV)/.installed
	$(PY) -m llama_lab.bench

clean:
	rm -rf $(VENV) .pytest_cache
