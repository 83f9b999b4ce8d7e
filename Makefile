# make run   : set up .venv (if absent), install, run the default BMES case
# make test  : set up .venv (if absent), install, lint, run the test suite (serial + mpirun -n 2)
# make bench : the benchmark tables under benchmarks/results/ (long: see benchmarks/README.md)
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
CONFIG  ?= configs/femoral_head_bmes.yaml
MPI_NP  ?= 2

.PHONY: run test test-fast lint clean

$(PY):
	@python=$$(scripts/find_python.sh) || exit 1; \
	echo "creating $(VENV) with $$python"; \
	"$$python" -m venv $(VENV)

# Exact versions from constraints.txt; the package itself declares compatible ranges (pyproject.toml).
$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/bmes run $(CONFIG)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest
	$(VENV)/bin/mpirun -n $(MPI_NP) $(PY) -m pytest -m mpi -q -p no:cacheprovider

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf $(VENV) results
