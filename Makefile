# The two commands (README.md): `make run` and `make test`. Both set up what they need.
VENV := .venv
BIN := $(VENV)/bin
# What mypy checks (setup.cfg [mypy]: strict, except chat_bridge and controller, which
# are checked with the defaults until they pass strict too).
TYPED := hotline ari_app agi voice chat_bridge controller
# Python's default is to cache compiled modules (__pycache__/, ignored by git); an
# environment that turns it off makes every process the suite starts compile the
# controller's modules again (about 0.7 s of CPU each).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test bench lint format setup setup-test clean-state

run: setup
	$(BIN)/hotline asterisk prepare
	$(BIN)/hotline run

test: setup-test
	$(BIN)/hotline asterisk prepare
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED)
	HOTLINE_REQUIRE_PG=1 HOTLINE_REQUIRE_NATS=1 $(BIN)/pytest -n 4

bench: setup-test
	$(BIN)/hotline asterisk prepare
	HOTLINE_REQUIRE_PG=1 $(BIN)/python bench/run.py

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED)

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

setup:
	@scripts/setup.sh run

setup-test:
	@scripts/setup.sh test
