# The two set-up commands of README.md. Both create .venv and install the project on first use.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: serve test install lint

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

# Start the service on the embedded default: SQLite, local storage, a real worker, the demo model.
serve: install
	$(BIN)/tryon serve

# The whole test suite (.ci/run calls exactly this).
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
