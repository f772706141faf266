# `make test` and `make demo` bootstrap everything they need into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=
# make test runs one pytest process per core (pytest-xdist), each taking whole test files,
# so a file's module fixtures (a local SLURM cluster, trained models) are built once
TEST_WORKERS ?= auto
# make demo PAIR=en-ru | PAIRS=all | DEMO_SCALE=4 | DEMO_PRESET=full | DEMO_PRESET=full,gpu
PAIR ?= en-fr
PAIRS ?= $(PAIR)
DEMO_SCALE ?= 1
DEMO_PRESET ?=

.PHONY: test test-fast demo venv clean

venv: $(INSTALLED)

# Every package is pinned in requirements.txt and installed without dependency
# resolution, so nothing unlisted (such as torchaudio) sneaks in.
$(INSTALLED): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-deps -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -c "import fairseq, fairseq_ext, transformers, sentencepiece, submitit, wikiextractor, py3langid, opencc, fasttext, eflomal, jieba"
	touch $@

test: $(INSTALLED)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# the edit loop: every test but those marked slow (whole demos, SLURM, kills, exports)
test-fast: $(INSTALLED)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

demo: $(INSTALLED)
	$(PY) -m fairseq_ext.demo --scale $(DEMO_SCALE) $(if $(DEMO_PRESET),--preset $(DEMO_PRESET),--pairs $(PAIRS))

clean:
	rm -rf $(VENV) .pytest_cache
