# llama-lab: `make lab` sets up the learner's environment and opens JupyterLab; `make dev` adds what instructors and
# contributors need (tests, nbgrader, the reference libraries); `make test` runs every test.
PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is pinned through constraints.txt so that no dependency can swap in another build
INSTALL := $(PIP) install -q -c constraints.txt
# where `make test` keeps each phase's JUnit report, read back for the summary at its end
REPORTS := $(VENV)/test-reports

.PHONY: venv lab dev test test-fast site data rlhf turkish bench clean

# One .venv, one marker per extra: .lab after `make lab` (the kit, JupyterLab, what the notebooks import), .dev after
# `make dev` or `make test` (the lab extra plus the dev extra, which includes the site extra), .site after `make site`.
# Extras are only ever added: `make test` after `make lab` turns a learner's .venv into an instructor's. For a
# learner's .venv again, `make clean lab`.
define make_venv
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(INSTALL) --upgrade pip
	$(INSTALL) torch==2.13.0
endef

$(VENV)/.lab: pyproject.toml constraints.txt
	$(make_venv)
	$(INSTALL) -e ".[lab]"
	touch $@

$(VENV)/.dev: pyproject.toml constraints.txt nbgrader_config.py
	$(make_venv)
	$(INSTALL) -e ".[lab,dev]"
	mkdir -p $(VENV)/etc/jupyter && cp nbgrader_config.py $(VENV)/etc/jupyter/nbgrader_config.py
	touch $(VENV)/.lab $(VENV)/.site $@

$(VENV)/.site: pyproject.toml constraints.txt
	$(make_venv)
	$(INSTALL) -e ".[site]"
	touch $@

venv: $(VENV)/.lab

dev: $(VENV)/.dev

lab: $(VENV)/.lab
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root,)

# Every test, in three phases: the unit tests; nbval on every notebook; the browser tests (tests/browser/:
# JupyterLab and the built site). The browser tests and the grader's sandbox need Debian's Chromium and bubblewrap,
# installed if missing. The notebooks' saved outputs are a fresh clone's (the kit's tiny models), so their kernels run
# without the user's Llama 2 settings; the unit tests keep them (those that compare with Llama 2's own tokenizer use
# them). Every phase runs even if one before it fails; the summary at the end counts each, and make fails if any
# phase did.
test: $(VENV)/.dev
	bash scripts/install_system_packages.sh
	rm -rf $(REPORTS)
	status=0; \
	$(PY) -m pytest tests/ --ignore=tests/browser -p no:cacheprovider \
		--junitxml=$(REPORTS)/unit.xml \
		|| status=1; \
	env -u LLAMA2_DIR -u LLAMA2_BASE_DIR -u LLAMA2_CHAT_DIR -u LLAMA2_TOKENIZER \
		$(PY) -m pytest notebooks/ --nbval -p no:cacheprovider --nbval-sanitize-with tests/nbval_sanitize.cfg \
		--nbval-current-env --junitxml=$(REPORTS)/notebooks.xml || status=1; \
	$(PY) -m pytest tests/browser -p no:cacheprovider --junitxml=$(REPORTS)/browser.xml \
		|| status=1; \
	$(PY) scripts/test_summary.py "unit tests=$(REPORTS)/unit.xml" "notebooks=$(REPORTS)/notebooks.xml" \
		"browser=$(REPORTS)/browser.xml" || status=1; \
	exit $$status

# The unit tests alone (no notebooks, no browser), quietly.
test-fast: $(VENV)/.dev
	$(PY) -m pytest tests/ --ignore=tests/browser -q

# Rebuild the tiny world, the kit's tokenizer and the tiny base and chat models from nothing.
data: $(VENV)/.lab
	$(PY) -m llama_lab.world.build

# RLHF in miniature on the tiny chat model: comparisons, reward models, rejection sampling, PPO, DPO, the safety
# table; then the reward models, the best aligned model and every figure are copied into data/.
rlhf: $(VENV)/.lab
	$(PY) -m llama_lab.rlhf.pipeline --ship

# Llama 2 beyond English: the tiny models taught Turkish three ways (continued pretraining with the kit's tokenizer,
# with Turkish pieces added to it, with LoRA alone) and the chat model fine-tuned on Turkish dialogs without and with
# Turkish safety data, each measured; then the figures and the Turkish chat model are copied into data/.
turkish: $(VENV)/.lab
	$(PY) -m llama_lab.course.turkish --ship

# The course as a static HTML site that needs no network (docs/site.md): build/site/html, open its index.html.
site: $(VENV)/.site
	$(PY) scripts/build_site.py --out build/site

bench: $(VENV)/.lab
	$(PY) -m llama_lab.bench

clean:
	rm -rf $(VENV) .pytest_cache
