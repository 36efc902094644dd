# gsv-trt: `make setup`, then `make engine VERSION=v4 PRECISION=fp16`, `make test`.
VENV       ?= .venv
PYTHON     ?= $(VENV)/bin/python
TORCH      ?= torch==2.13.0
VERSION    ?= v4
PRECISION  ?= fp16
WEIGHTS    ?= random
SOVITS_WEIGHTS ?= random
LORA_BASE  ?=
STAGE      ?= all
GPT_SOVITS_ROOT ?=
ENGINES    ?= engines
UPSTREAM_VENV ?= .venv-upstream
TORCHAUDIO ?= torchaudio==2.8.0

ROOT_ARG := $(if $(GPT_SOVITS_ROOT),--gpt-sovits-root $(GPT_SOVITS_ROOT),--weights $(WEIGHTS))

.PHONY: setup test engine optimize clean setup-upstream test-upstream

setup:  ## virtual environment with torch, TensorRT-RTX and the test tools
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install "$(TORCH)" -e ".[rtx,test]"

test:  ## the whole suite (GPU tests skip visibly without a GPU)
	$(PYTHON) -m pytest -q

setup-upstream:  ## .venv-upstream: upstream GPT-SoVITS's own TTS and api_v2 on the CPU, for tests/upstream (docs/upstream-harness.md)
	python3 -m venv $(UPSTREAM_VENV)
	$(UPSTREAM_VENV)/bin/pip install --upgrade pip
	$(UPSTREAM_VENV)/bin/pip install "$(TORCH)" -r tests/upstream/requirements.txt
	$(UPSTREAM_VENV)/bin/pip install --no-deps "$(TORCHAUDIO)" -e .
	rm -f $(UPSTREAM_VENV)/lib/python3*/site-packages/torchaudio/lib/*.so  # built for torch 2.8 + CUDA; unused

test-upstream:  ## tests/upstream with upstream's real TTS and api_v2 (skips visibly without ../shared/upstream)
	GSV_TRT_UPSTREAM_ENV=required $(UPSTREAM_VENV)/bin/python -m pytest -q -rs tests/upstream

engine:  ## export -> check -> build engines/gpt-sovits-$(VERSION)-{vocoder,cfm-condition,cfm-step}-$(PRECISION)-KEY.plan
	$(PYTHON) -m gsv_trt engine --version $(VERSION) --precision $(PRECISION) --stage $(STAGE) $(ROOT_ARG) \
		--sovits-weights $(SOVITS_WEIGHTS) $(if $(LORA_BASE),--lora-base $(LORA_BASE)) --out-dir $(ENGINES)

optimize:  ## build, gate, benchmark and report (reports/<timestamp>/)
	$(PYTHON) -m gsv_trt optimize --version $(VERSION) --precision $(PRECISION) $(ROOT_ARG)

clean:
	rm -rf $(ENGINES)/*.plan $(ENGINES)/*.json $(ENGINES)/*.onnx $(ENGINES)/*.cache reports
