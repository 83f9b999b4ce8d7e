# make run   : set up .venv (if absent), install, run the default BMES case
# make test  : set up .venv (if absent), install, lint, run the test suite (serial + mpirun -n 2)
# make bench : the benchmark tables under benchmarks/results/ and in the README (long: benchmarks/README.md)
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
CONFIG  ?= configs/femoral_head_bmes.yaml
MPI_NP  ?= 2
TEST_JOBS ?= 2

.PHONY: run test test-fast lint bench clean

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

# The serial part on TEST_JOBS processes (pytest-xdist; a module's tests stay on one worker, its fixtures built once),
# the 15 slowest tests printed; then the collective tests again on MPI_NP ranks.
test: lint
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder --durations=15
	$(VENV)/bin/mpirun -n $(MPI_NP) $(PY) -m pytest -m mpi -q -p no:cacheprovider -p no:xdist

# The benchmark tables (about 1.5 h on 2 cores): CSVs under benchmarks/results/, then the README's tables.
bench: $(STAMP)
	$(VENV)/bin/bmes verify --results-dir benchmarks/results/verification
	$(VENV)/bin/bmes study configs/studies/mesh_default.yaml --jobs 2 --results-dir benchmarks/results
	$(VENV)/bin/bmes study configs/studies/oat_lesion.yaml --jobs 2 --results-dir benchmarks/results
	$(PY) benchmarks/solver_scaling.py --levels 6 4 3 2.2 --ranks 1 2
	$(PY) benchmarks/peer_terzaghi.py
	$(PY) scripts/readme_tables.py

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf $(VENV) results
