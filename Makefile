# The README's whole set-up is `make demo` and `make test`. Both are idempotent: the venv, the installed
# packages (torch is ~5 GB: never reinstalled once there), the model pack, test media and Kafka's jars are
# made once and reused.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEPS   := $(VENV)/.deps-$(shell cat pyproject.toml deploy/pack.txt | sha1sum | cut -c1-12)
export HF_HUB_OFFLINE ?= 1
export YOLO_OFFLINE ?= 1
export SCENESTREAM_OFFLINE ?= 1
DEMO_OUT ?= demo-out
PYTEST_ARGS ?=

.PHONY: demo test install pack sysdeps media bench schemas clean help

help:
	@echo "make demo   - install, then run the embedded pipeline on a sample video (offline models)"
	@echo "make test   - install, start a local Kafka broker and OpenSearch node, run the whole test suite"
	@echo "make bench  - run the benchmarks under bench/ (slow; figures go to bench/RESULTS.md)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# pip leaves satisfied requirements alone, so re-running after a pyproject change only adds what is new.
$(DEPS): $(BIN)/python pyproject.toml deploy/pack.txt
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps -r deploy/pack.txt
	rm -f $(VENV)/.deps-* && touch $@

install: $(DEPS)
pack: $(DEPS)

# ffmpeg, espeak-ng and sox make the synthetic test media, with DejaVu fonts for the OCR tests' title cards;
# chromium opens the report and the live page in the tests (headless); Java + Maven run the dev Kafka broker and
# the dev OpenSearch node.
sysdeps:
	@missing=""; for t in ffmpeg espeak-ng sox chromium openssl; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

media: $(DEPS) sysdeps
	$(BIN)/python -m tests.media

demo: $(DEPS) sysdeps
	@sample=$$($(BIN)/python -m tests.media synth_clip --print-path) && \
	echo "sample video: $$sample" && \
	$(BIN)/scenestream run "$$sample" --out $(DEMO_OUT) && \
	$(BIN)/python -c "import json,sys; [print(f\"scene {r['index']} [{r['start']:.1f}, {r['end']:.1f}) {r['caption']}\") for r in map(json.loads, open(sys.argv[1]))]" $(DEMO_OUT)/captions.jsonl && \
	echo "chapters:" && cat $(DEMO_OUT)/chapters.txt && \
	$(BIN)/python -c "import json,sys; print('summary:', json.load(open(sys.argv[1])).get('summary', '(none)'))" $(DEMO_OUT)/summary.json && \
	echo "the scene with speech, in full:" && sed -n 2p $(DEMO_OUT)/captions.jsonl | $(BIN)/python -m json.tool | head -n 60

# The tests start their own broker and OpenSearch node when SCENESTREAM_BROKER / SCENESTREAM_OPENSEARCH are unset;
# here one of each serves the whole run.
test: $(DEPS) sysdeps media
	@set -e; run=$${TMPDIR:-/tmp}/scenestream-test-$$$$; \
	trap 'deploy/kafka/stop --data-dir '$$run'-kafka --purge >/dev/null 2>&1 || true; \
	      deploy/opensearch/stop --data-dir '$$run'-opensearch --purge >/dev/null 2>&1 || true' EXIT; \
	broker=$$(deploy/kafka/start --port 0 --data-dir $$run-kafka); echo "kafka: $$broker"; \
	search=$$(deploy/opensearch/start --port 0 --data-dir $$run-opensearch); echo "opensearch: $$search"; \
	SCENESTREAM_BROKER=$$broker SCENESTREAM_OPENSEARCH=$$search $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(DEPS) sysdeps
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

schemas: $(DEPS)
	$(BIN)/python -m scenestream.schemas.jsonschema

clean:
	rm -rf $(DEMO_OUT) .pytest_cache
