# Two entry points (see README): `make book` builds the site, `make test`
# runs every test. Each installs what it needs into local virtual envs.
# Exports: `make pdf` (_build/pdf/book.pdf), `make markdown` (_build/book.md).
SHELL := /bin/bash
VENV := .venv
VENV311 := .venv311
PY := $(VENV)/bin/python
# Environments are installed from lock files (exact versions of every
# package), made by `make lock` from requirements/*.in with uv. The library's
# own pyproject.toml keeps its supported ranges, for readers' installs.
LOCK := requirements.lock
LOCK311 := requirements-311.lock
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
LIB_HASH = $(shell cat $$(find lib -name '*.py' | sort) pyproject.toml | sha256sum | cut -c1-16)
# The execution cache ignores library edits: clear it when lib/ changed.
define CLEAR_STALE_CACHE
	@if [ "$$(cat _build/.lib-hash 2>/dev/null)" != "$(LIB_HASH)" ]; then \
	  echo "library changed: clearing the execution cache"; \
	  rm -rf _build/.jupyter_cache; fi
endef

.PHONY: lock upgrade book test unit unit311 notebooks student colab browser pdf markdown \
        clean lab

## lab: open the book in JupyterLab (widgets work in the live kernel);
## JupyterLab is in the lock.
lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab --notebook-dir=$(CURDIR) \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

$(VENV)/.installed: $(LOCK) pyproject.toml Makefile tools/venv-sync
	tools/venv-sync $(VENV) $(LOCK) "$$(tools/find-python)" $(UV_VERSION)
	touch $@

$(VENV311)/.installed: $(LOCK311) pyproject.toml Makefile tools/venv-sync $(VENV)/.installed
	tools/venv-sync $(VENV311) $(LOCK311) "$$(tools/find-python311)" $(UV_VERSION) $(UV)
	touch $@

## book: build the site into _build/html, executing every notebook, then
## check every link and anchor of it offline (a broken one fails the build).
book: $(VENV)/.installed
	$(CLEAR_STALE_CACHE)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	$(PY) tools/postbuild.py _build/html
	$(PY) tools/checklinks.py _build/html
	@mkdir -p _build && echo "$(LIB_HASH)" > _build/.lib-hash
	@echo "Site built: open file://$(CURDIR)/_build/html/index.html"

## browser: every page of the site in headless Chromium (Debian's package,
## installed when missing), offline. The site is built from the notebooks'
## stored outputs, which `make notebooks` (nbval) checks against a fresh run,
## into _build/test-site, so the tests do not execute every notebook twice.
## Screenshots: _build/screenshots/; per-page table: _build/browser-report.md.
TEST_SITE := _build/test-site
browser: $(VENV)/.installed
	@sed 's/^  execute_notebooks: cache$$/  execute_notebooks: "off"/' \
	  _config.yml > .config-stored-outputs.yml
	@grep -q 'execute_notebooks: "off"' .config-stored-outputs.yml
	$(VENV)/bin/jupyter-book build . --config .config-stored-outputs.yml \
	  --path-output $(TEST_SITE) -W -n --keep-going; \
	  rc=$$?; rm -f .config-stored-outputs.yml; exit $$rc
	$(PY) tools/postbuild.py $(TEST_SITE)/_build/html
	$(PY) tools/checklinks.py $(TEST_SITE)/_build/html
	SCALEBOOK_SITE=$(TEST_SITE)/_build/html \
	  $(PY) -m pytest tests/test_browser.py -q -p no:cacheprovider

## pdf: the whole book as one PDF (single-page build printed by Chromium).
pdf: $(VENV)/.installed
	$(CLEAR_STALE_CACHE)
	$(VENV)/bin/jupyter-book build . --builder singlehtml -W -n --keep-going
	$(PY) tools/postbuild.py _build/singlehtml
	$(PY) tools/bookpdf.py _build/singlehtml _build/pdf/book.pdf
	@mkdir -p _build && echo "$(LIB_HASH)" > _build/.lib-hash

## markdown: the chapters (prose, code, outputs as text) in _build/book.md.
markdown: $(VENV)/.installed
	$(PY) tools/bookmd.py _build/book.md

## test: every test, in three lanes that run side by side (tools/phases.py;
## one line per phase with its seconds, logs in _build/test-logs/):
## 1. unit tests on the book's jax (2 processes);
## 2. the JAX-using unit tests on the jax 0.10 low end, then nbval on every
##    notebook (each executed once, 2 at a time);
## 3. the browser tests of the English and Chinese sites built from the
##    stored outputs (about one core: Sphinx and Chromium), then the Colab path.
## Lanes 1 and 2 take about the same CPU time, so they end together.
test: $(VENV)/.installed $(VENV311)/.installed
	@$(PY) tools/phases.py unit unit311,notebooks browser,browser-zh,colab

XDIST := -n 2 --dist loadfile

## The unit phases keep a JAX compilation cache for one run (emptied at the
## start of each): many tests compile the same small programs in different
## modules, and a program compiled once is then read from disk (about 8% of
## the phase's CPU).  nbval runs without it, so every notebook output comes
## from a fresh compile.
JAX_RUN_CACHE = rm -rf _build/jax-cache/$@ && \
  JAX_COMPILATION_CACHE_DIR=$(CURDIR)/_build/jax-cache/$@ \
  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 \
  JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0

unit: $(VENV)/.installed
	$(JAX_RUN_CACHE) \
	$(PY) -m pytest tests -q -m "not slow" -p no:cacheprovider $(XDIST) \
	  --ignore=tests/test_browser.py

## unit311: the library's tests at the low end of the JAX range. A test
## module that imports only the JAX-free layers (proven JAX-free by
## tests/unit/test_jax_free.py) runs once, under `unit`.
unit311: $(VENV311)/.installed
	$(JAX_RUN_CACHE) \
	$(VENV311)/bin/python -m pytest tests/unit -q -p no:cacheprovider $(XDIST) \
	  --jax-only

## student: put every exercise notebook in sphinx-exercise's form (an
## exercise written the old way, a "## Exercise N.M" heading and a worked-
## solution admonition, is moved; the rest is left as it is), then regenerate
## the student notebooks from the solution notebooks.
student: $(VENV)/.installed
	$(PY) tools/exercise_directives.py
	$(PY) tools/student.py

## notebooks: every notebook under nbval, JAX's deprecation warnings as
## errors, two notebooks at a time (each notebook's cells stay in one kernel).
notebooks: $(VENV)/.installed
	SCALEBOOK_JAX_WARNINGS=error \
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
	  $(XDIST) chapters/*.ipynb exercises/[0-9]*.ipynb

colab: $(VENV)/.installed
	$(PY) -m pytest tests -q -m slow -p no:cacheprovider

clean:
	rm -rf _build

## lock: regenerate both lock files from requirements/*.in (newest versions
## the ranges allow). Commit the result with the re-executed notebooks:
## `make upgrade` does all of it.
lock: $(VENV)/.installed
	$(UV) pip compile requirements/book.in -o $(LOCK) --python-version 3.12 --quiet
	$(UV) pip compile requirements/low.in -o $(LOCK311) --python-version 3.11 --quiet

## upgrade: move the book to the newest versions in one deliberate step:
## regenerate the locks, reinstall, store the checker's reference values for
## both JAX releases, re-execute every notebook, run the tests.
upgrade: lock
	$(MAKE) --no-print-directory $(VENV)/.installed $(VENV311)/.installed
	$(PY) tools/reference_values.py
	PYTHONPATH=lib $(VENV311)/bin/python tools/reference_values.py
	$(PY) tools/nbtools.py chapters/*.ipynb exercises/[0-9]*.ipynb
	$(MAKE) --no-print-directory student test

.PHONY: i18n-update i18n-status i18n-check i18n-notebooks book-zh book-lang browser-zh pdf-zh
## Translations (README "Working on the book"; languages and the pages each
## must translate: locale/coverage.yml; tools/i18n.py).
## i18n-update: extract the English prose (gettext build from the stored
## outputs) and merge it into every language's catalogs (sphinx-intl; a
## changed paragraph becomes fuzzy, a new one untranslated).
i18n-update: $(VENV)/.installed
	$(PY) tools/i18n.py update

## i18n-status: per page and language: total, translated, fuzzy, untranslated.
i18n-status: $(VENV)/.installed
	$(PY) tools/i18n.py status

## i18n-check: the catalogs against the English source (what tests/test_i18n.py
## checks): syntax, MyST, protected tokens, stale pages, declared coverage.
i18n-check: $(VENV)/.installed
	$(PY) tools/i18n.py check

## i18n-notebooks: the translated notebooks (chapters/zh/, exercises/student/zh/)
## from the catalogs; commit them with the catalogs.
i18n-notebooks: $(VENV)/.installed
	$(PY) tools/i18n.py lint
	$(PY) tools/translate_notebooks.py

## book-zh / book-lang BOOK_LANG=mn (or LANG=mn): a translated site from the
## stored outputs into _build/html/<lang>/, with the language switch on both
## editions (the English site is built from the stored outputs if missing).
## The catalogs are checked first; a warning fails the build.
book-zh:
	@$(MAKE) --no-print-directory book-lang BOOK_LANG=zh_CN
book-lang: BOOK_LANG := $(if $(filter command line,$(origin LANG)),$(LANG),$(BOOK_LANG))
book-lang: $(VENV)/.installed
	@test -n "$(BOOK_LANG)" || { echo "usage: make book-lang BOOK_LANG=mn"; exit 2; }
	LANG=C.UTF-8 $(PY) tools/i18n.py build $(BOOK_LANG) --site _build/html
	@echo "Site built: open file://$(CURDIR)/_build/html/$$($(PY) -c \
	  'import sys; sys.path.insert(0,"tools"); import i18n; print(i18n.language("$(BOOK_LANG)").site)')/index.html"

## browser-zh: the Chinese site (stored outputs) inside the English test site
## that `make browser` built, checked in Chromium (tests/test_browser_zh.py);
## screenshots in _build/screenshots-zh/.
browser-zh: $(VENV)/.installed
	@start=$$(date +%s); \
	$(PY) tools/i18n.py build zh_CN --site $(TEST_SITE)/_build/html || exit 1; \
	echo "book-zh (stored outputs): $$(( $$(date +%s) - start )) s"
	SCALEBOOK_SITE=$(TEST_SITE)/_build/html SCALEBOOK_LANG=zh_CN \
	  $(PY) -m pytest tests/test_browser_zh.py -q -p no:cacheprovider --durations=3

## pdf-zh: the Chinese book as one PDF (CJK font embedded, solutions in the
## appendix): _build/pdf/book-zh.pdf.
pdf-zh: $(VENV)/.installed
	$(PY) tools/i18n.py build zh_CN --builder singlehtml
	$(PY) tools/bookpdf.py _build/i18n/zh_CN/_build/singlehtml _build/pdf/book-zh.pdf
