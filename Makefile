# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PORT ?= 5000
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

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

## test: the whole suite (PostgreSQL/Redis runs too when TEST_DATABASE_URL/TEST_REDIS_URL are set)
test: $(DEV_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache instance
