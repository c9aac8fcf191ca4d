PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test chaos lint bench clean messages

# The catalogs: the app's (notifications/locale, shipped in the wheel) and the site's
# (project/locale, for templates/, static/ and project/). Compiled .mo files are never
# committed: ``run`` and ``test`` compile them here, and the wheel's build compiles its own.
LOCALES := de ar
CATALOGS := $(wildcard notifications/locale/*/LC_MESSAGES/*.po project/locale/*/LC_MESSAGES/*.po)
COMPILED := $(CATALOGS:.po=.mo)
MAKEMESSAGES := makemessages $(addprefix --locale ,$(LOCALES)) --add-location file --no-obsolete
# What the site's catalogs leave to the app's, or to nobody.
NOT_THE_SITES := $(addprefix --ignore ,notifications tests bench docs deploy staticfiles build dist)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[site]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# Without gettext's msgfmt the site still runs, in English only.
%.mo: %.po
	@if command -v msgfmt >/dev/null; then msgfmt --check-format -o $@ $<; \
	else echo "msgfmt is missing (apt-get install gettext): $@ not compiled" >&2; fi

# Every catalog again from the sources (after changing a translatable string), for each
# locale and domain; then fill in what is new. CI checks this leaves them unchanged.
messages: | $(BIN)/python
	cd notifications && $(abspath $(BIN))/python ../manage.py $(MAKEMESSAGES) --domain django
	cd notifications && $(abspath $(BIN))/python ../manage.py $(MAKEMESSAGES) --domain djangojs
	$(BIN)/python manage.py $(MAKEMESSAGES) --domain django $(NOT_THE_SITES)
	$(BIN)/python manage.py $(MAKEMESSAGES) --domain djangojs $(NOT_THE_SITES)

run: $(VENV)/.installed-run $(COMPILED)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py create_demo_data
	$(BIN)/python manage.py create_demo_orders alice bob
	$(BIN)/python -m notifications.serve -v 1 \
		-e tcp:port=$(PORT):interface=$(HOST):backlog=1024 project.asgi:application

test: $(VENV)/.installed-dev $(COMPILED)
	$(BIN)/python -m pytest

# The fault suite alone, with many seeds (docs/TESTING.md): make chaos SEEDS=100; one seed
# again: make chaos SEED=17.
SEEDS ?= 10
chaos: $(VENV)/.installed-dev
	CHAOS_SEEDS=$(SEEDS) CHAOS_SEED=$(SEED) $(BIN)/python -m pytest tests/e2e/test_chaos.py \
		-p no:randomly -s -q

# Load test against daphne, Redis and PostgreSQL on this machine (docs/PERFORMANCE.md);
# e.g. make bench BENCH_ARGS="--scenario rate --servers 1 --streams 200".
bench: | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) db.sqlite3 .test-db.sqlite3* .pytest_cache
