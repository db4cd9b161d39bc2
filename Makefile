# The no-Docker setup. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK := $(BIN)/python -m ml_pipeline_stack
DS ?=
DATASET ?=
ARGS ?=
# local: the LocalExecutor. celery: the CeleryExecutor, Redis and WORKERS workers on this machine.
EXECUTOR ?= local
WORKERS ?= 2
export EXECUTOR WORKERS

.PHONY: help install declare redis run score backfill promote predict serve up down status psql test test-unit test-e2e test-docker mutants docs lint bench clean

help:
	@echo "make declare NAME=churn INPUT=sample.csv LABEL=Outcome [KEY='Customer ID']  datasets/NAME.toml from a sample"
	@echo "make run [DS=YYYY-MM-DD] [DATASET=name]  one complete run (default: today, breast_cancer), then a summary"
	@echo "make backfill FROM=.. TO=.. [DATASET=name]  one run per day of the range, through the scheduler"
	@echo "make promote VERSION=N [DATASET=name]  make the dataset's model version N the champion (or roll back)"
	@echo "make score [DS=YYYY-MM-DD] [DATASET=name]  the day's rows scored by the champion into predictions"
	@echo "make predict INPUT=x.csv [OUTPUT=y.csv] [DATASET=name]  score rows with the dataset's champion"
	@echo "make serve                 the scoring service alone, on http://127.0.0.1:8000 (make up starts it too)"
	@echo "make up [EXECUTOR=celery WORKERS=2]  the Airflow UI on http://localhost:8080, LocalExecutor or Celery"
	@echo "make down                  stop everything (Airflow, its workers, Redis, PostgreSQL)"
	@echo "make psql [ARGS='-c ...']  psql on the pipeline database"
	@echo "make test                  unit, DAG, integration and compose tests"
	@echo "make test-unit             the fast loop: every test that starts no Airflow (under a minute)"
	@echo "make test-e2e              the Airflow UI driven in headless Chromium (screenshots: logs/e2e/)"
	@echo "make test-docker           docker compose up for real, a triggered run, psql, predict, down"
	@echo "make mutants               mutation testing of the pure modules: what no test notices (slow)"
	@echo "make docs                  docs/settings.md from the settings declared in config.py"
	@echo "make lint                  ruff"
	@echo "make bench [ARGS=...]      the heavy steps against the seed project's approach"

# The virtualenv is rebuilt only when the requirements change.
$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	@# The build's by-product in src/ would be a second copy of the package's metadata: Airflow would
	@# then find its plugin twice, and warn in every log.
	rm -rf src/*.egg-info
	touch $@

install: $(BIN)/.installed

declare: install
	$(BIN)/python -m ml_pipeline declare "$(NAME)" --from "$(INPUT)" --label "$(LABEL)" $(if $(KEY),--key "$(KEY)")

# The Celery broker: Debian's redis-server, installed when missing (it runs on a unix socket in the
# project's state folder, started and stopped with the stack).
redis:
	@command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server)

run: install $(if $(filter celery,$(EXECUTOR)),redis)
	$(STACK) run $(if $(DS),--date $(DS)) $(if $(DATASET),--dataset $(DATASET))

score: install $(if $(filter celery,$(EXECUTOR)),redis)
	$(STACK) run --scoring $(if $(DS),--date $(DS)) $(if $(DATASET),--dataset $(DATASET))

# FROM=YYYY-MM-DD TO=YYYY-MM-DD [DATASET=name] [REPROCESS=none|failed|completed]
backfill: install $(if $(filter celery,$(EXECUTOR)),redis)
	$(STACK) backfill --from $(FROM) --to $(TO) $(if $(DATASET),--dataset $(DATASET)) $(if $(REPROCESS),--reprocess $(REPROCESS))

promote: install
	$(STACK) pipeline promote --version $(VERSION) $(if $(DATASET),--dataset "$(DATASET)")

predict: install
	$(STACK) pipeline predict --input $(INPUT) $(if $(OUTPUT),--output $(OUTPUT)) $(if $(DATASET),--dataset $(DATASET))

serve: install
	$(STACK) pipeline serve

up: install $(if $(filter celery,$(EXECUTOR)),redis)
	$(if $(DATASET),@echo "make up serves every dataset's DAGs: DATASET is not used (switch a DAG on in the UI, or make run DATASET=$(DATASET)).")
	$(STACK) up

down: install
	$(if $(DATASET),@echo "make down stops the stack of every dataset: DATASET is not used.")
	$(STACK) down

status: install
	$(if $(DATASET),@echo "make status shows the stack of every dataset: DATASET is not used.")
	$(STACK) status

psql: install
	$(if $(DATASET),@echo "make psql reaches every dataset's tables: DATASET is not used; filter with WHERE dataset = '$(DATASET)'.")
	$(STACK) psql $(ARGS)

test: install lint redis
	$(BIN)/python -m pytest

# The fast loop: everything but the tests that start Airflow's services (an embedded PostgreSQL is started
# for the database tests, in a temporary folder).
test-unit: install
	$(BIN)/python -m pytest -m "not stack and not e2e and not docker and not slow" -q

# The Airflow UI in headless Chromium (Debian's package; installed here when missing).
test-e2e: install
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(BIN)/python -m pytest -m e2e tests/e2e

# The compose files' security findings at or above high: fixed, or accepted with a reason in .compose-lint.yml.
# docker compose up on a Docker engine: the running one, or a private dockerd (root; Debian's docker.io
# installed when missing). Base images are pulled, or built as stand-ins (tests/docker/) where no
# registry answers; they are kept in ~/.cache/ml_pipeline/docker for the next run.
test-docker: install
	$(BIN)/python -m pytest -m docker tests/docker -p no:cacheprovider -s

# The pure modules' mutants (mutmut, configured in pyproject.toml): each survivor is a change to the
# code that no unit test notices. Takes minutes, so it is not part of `make test`.
MUTATED = basics.config basics.datasets data_in.validation data_in.batch_file data_in.table_check \
  training.fast_cv training.objectives registry.promotion registry.judging
MUTATED_RE = ml_pipeline\.($(shell echo $(MUTATED) | sed 's/\./\\./g' | tr ' ' '|'))\.
mutants: install
	rm -rf mutants
	$(BIN)/mutmut run $(foreach module,$(MUTATED),"ml_pipeline.$(module).*")
	$(BIN)/mutmut results | grep -E "$(MUTATED_RE)" | grep -v -E ": (killed|not checked)$$" || true
	@echo "Mutants per module and outcome:"
	@$(BIN)/mutmut results --all true | grep -E "$(MUTATED_RE)" \
	  | sed -E 's/^ *ml_pipeline\.([a-z_]+\.[a-z_]+)\..*: /\1 /' | sort | uniq -c

# docs/settings.md from the settings' declarations in config.py (a test checks it is up to date).
docs: install
	$(BIN)/python -m ml_pipeline.basics.settings_reference

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff check --select AIR --preview --quiet .
	@for file in docker-compose.yaml docker-compose.celery.yaml; do \
	  out=$$($(BIN)/compose-lint --quiet --fail-on high --skip-suppressed $$file 2>&1) \
	    || { echo "$$out"; exit 1; }; echo "compose-lint $$file: $$(echo "$$out" | tail -n 1)"; \
	done

# Minutes, not seconds: the seed's GridSearchCV and to_sql at 100,000 rows are the slow part.
bench: install
	$(BIN)/python bench/bench.py $(ARGS)

clean: down
	rm -rf .pgdata .airflow data/runs models/*/ logs/*/
