# relaybox: `make run` starts the relay with config/dev.conf; `make test` runs every test.
SHELL := /bin/bash
NODE ?= node
UNIT := $(wildcard test/unit/*.test.ts)
INTEGRATION := $(wildcard test/integration/*.test.ts)

.PHONY: all deps build run test test-unit test-integration typecheck bench clean readme-options fuzz faults

all: build

deps:
	@scripts/install-deps

dist/relaybox.js: $(shell find src -name '*.ts') package.json scripts/build.mjs
	$(NODE) scripts/build.mjs

build: deps dist/relaybox.js

typecheck: deps
	npx tsc --noEmit -p .

run: build
	@mkdir -p var/spool
	$(NODE) dist/relaybox.js --user=$$(id -un) config/dev.conf

test: build typecheck
	$(NODE) --import tsx --test --test-concurrency=1 --test-reporter=spec $(UNIT) $(INTEGRATION)

test-unit: deps
	$(NODE) --import tsx --test --test-reporter=spec $(UNIT)

test-integration: build
	$(NODE) --import tsx --test --test-concurrency=1 --test-reporter=spec $(INTEGRATION)

# Longer runs of the fuzz and fault tests that `make test` runs briefly. SEED=n repeats a run.
fuzz: build
	RELAYBOX_FUZZ_SEED=$${SEED:-$$(( RANDOM * 32768 + RANDOM ))} RELAYBOX_FUZZ_SESSIONS=$${SESSIONS:-5000} RELAYBOX_PARSER_FUZZ_ROUNDS=$${ROUNDS:-200000} \
	  $(NODE) --import tsx --test --test-concurrency=1 --test-reporter=spec test/integration/fuzz-smtp.test.ts test/unit/parsers-fuzz.test.ts

faults: build
	RELAYBOX_FAULT_SEED=$${SEED:-$$(( RANDOM * 32768 + RANDOM ))} RELAYBOX_FAULT_MESSAGES=$${MESSAGES:-1000} \
	  $(NODE) --import tsx --test --test-reporter=spec test/integration/faults-upstream.test.ts

bench: build
	scripts/bench/run

clean:
	rm -rf dist var test-output

readme-options: deps
	$(NODE) --import tsx scripts/readme-options.ts
