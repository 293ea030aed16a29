# Set-up lives here so that a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv venv-gpu clean protos mutants

venv: $(STAMP)

# --no-deps: requirements.txt is a complete lock; see its header for why.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-deps -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# A second environment with TensorFlow's CUDA build (requirements-gpu.txt), for machines
# with an NVIDIA GPU; nothing else (test, lint, demo) uses it. Prints the GPUs TF sees.
VENV_GPU := .venv-gpu
STAMP_GPU := $(VENV_GPU)/.installed

venv-gpu: $(STAMP_GPU)

$(STAMP_GPU): requirements-gpu.txt pyproject.toml
	test -x $(VENV_GPU)/bin/python || $(PYTHON) -m venv $(VENV_GPU)
	$(VENV_GPU)/bin/python -m pip install --quiet --no-deps -r requirements-gpu.txt
	$(VENV_GPU)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(VENV_GPU)/bin/python -c "import tensorflow as tf; print('GPUs:', tf.config.list_physical_devices('GPU'))"
	touch $(STAMP_GPU)

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

# Slow (hours for every module on 2 cores) and resumable; never part of `make test` or CI.
# It rewrites the module under test in place while it runs: run no tests in this tree then.
mutants: $(STAMP)
	nice -n 10 $(PY) -m scripts.mutants $(MUTANTS_ARGS)

demo: $(STAMP)
	$(PY) -m scripts.demo

lint: $(STAMP)
	$(PY) -m ruff check pg_keras serving scripts tests docs/examples
	$(PY) -m ruff format --check pg_keras serving scripts tests docs/examples

# The V2 (Open Inference Protocol) gRPC modules, regenerated from serving/protos/*.proto and
# committed, so that neither `make venv` nor `make test` needs protoc. grpcio-tools is not in
# requirements.txt: it wants setuptools>=77, which the pinned set does not have. Its own venv, inside .venv.
# The message classes go into a descriptor pool of their own: Triton's client registers the
# same `inference.*` names in the default pool, and both must load in one test process.
PROTOS_VENV := $(VENV)/protos-tools
protos:
	test -x $(PROTOS_VENV)/bin/python || $(PYTHON) -m venv $(PROTOS_VENV)
	$(PROTOS_VENV)/bin/pip install --quiet --no-deps grpcio-tools==1.85.1 protobuf==7.36.2 grpcio==1.85.3
	$(PROTOS_VENV)/bin/python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. \
	  serving/protos/grpc_predict_v2.proto
	sed -i 's/_descriptor_pool.Default()/_descriptor_pool.DescriptorPool()/' \
	  serving/protos/grpc_predict_v2_pb2.py
	for f in serving/protos/*_pb2*.py; do sed -i '1i # ruff: noqa' $$f; done
	$(PY) -m ruff format serving/protos

clean:
	rm -rf $(VENV) $(VENV_GPU) runs
