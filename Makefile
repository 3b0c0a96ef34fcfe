# Two entry points (see README): `make book` builds the site, `make test`
# runs every test. Each installs what it needs into local virtual envs.
SHELL := /bin/bash
VENV := .venv
VENV311 := .venv311
PY := $(VENV)/bin/python
BOOK_DEPS := "jupyter-book<2" "jax>=0.12,<0.13" numpy matplotlib ipywidgets \
             nbval pytest rich nbclient ipykernel jupyter-cache
LIB_DEPS_311 := "jax>=0.10,<0.11" numpy matplotlib ipywidgets pytest
LIB_HASH = $(shell cat $$(find lib -name '*.py' | sort) pyproject.toml | sha256sum | cut -c1-16)

.PHONY: book test unit unit311 notebooks student colab clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $$(tools/find-python) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(BOOK_DEPS)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV311)/.installed: pyproject.toml
	@test -x $(VENV311)/bin/python || $$(tools/find-python311) -m venv $(VENV311)
	$(VENV311)/bin/python -m pip install -q --upgrade pip
	$(VENV311)/bin/python -m pip install -q $(LIB_DEPS_311)
	$(VENV311)/bin/python -m pip install -q -e .
	touch $@

## book: build the site into _build/html, executing every notebook.
book: $(VENV)/.installed
	@# The execution cache ignores library edits: clear it when lib/ changed.
	@if [ "$$(cat _build/.lib-hash 2>/dev/null)" != "$(LIB_HASH)" ]; then \
	  echo "library changed: clearing the execution cache"; \
	  rm -rf _build/.jupyter_cache; fi
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	$(PY) tools/postbuild.py _build/html
	@mkdir -p _build && echo "$(LIB_HASH)" > _build/.lib-hash
	@echo "Site built: open file://$(CURDIR)/_build/html/index.html"

## test: unit tests (both ends of the JAX range), nbval, student and Colab paths.
test: $(VENV)/.installed $(VENV311)/.installed
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory unit unit311 notebooks colab || exit 1; \
	echo "make test: all passed in $$(( $$(date +%s) - start )) s"

unit: $(VENV)/.installed
	$(PY) -m pytest tests -q -m "not slow" -p no:cacheprovider

unit311: $(VENV311)/.installed
	$(VENV311)/bin/python -m pytest tests/unit -q -p no:cacheprovider

## student: regenerate the student notebooks from the solution notebooks.
student: $(VENV)/.installed
	$(PY) tools/student.py

## notebooks: every notebook under nbval, JAX's deprecation warnings as errors.
notebooks: $(VENV)/.installed
	SCALEBOOK_JAX_WARNINGS=error \
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
	  --durations=0 chapters/*.ipynb exercises/[0-9]*.ipynb

colab: $(VENV)/.installed
	$(PY) -m pytest tests -q -m slow -p no:cacheprovider

clean:
	rm -rf _build
