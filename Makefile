# relaybox: `make run` starts the relay with config/dev.conf; `make test` runs every test.
SHELL := /bin/bash
NODE ?= node
UNIT := $(wildcard test/unit/*.test.ts)
INTEGRATION := $(wildcard test/integration/*.test.ts)
# The abuse suite, short (RELAYBOX_ABUSE_LONG unset); `make abuse` runs it long.
ABUSE := test/abuse/abuse.test.ts

.PHONY: all deps build run test test-unit test-integration typecheck lint format bench profile clean readme-options fuzz faults soak abuse emailrelay-suite

all: build

deps:
	@scripts/install-deps

dist/relaybox.js: $(shell find src -name '*.ts') package.json scripts/build.mjs
	$(NODE) scripts/build.mjs

build: deps dist/relaybox.js dist/relaybox-appliance.js

typecheck: deps
	npx tsc --noEmit -p .
	npx tsc --noEmit -p tsconfig.src.json

# The layout (prettier) and the linter (eslint, typescript-eslint); `make format` rewrites the layout.
LINTED := src test scripts eslint.config.mjs
lint: deps
	npx prettier --check --log-level warn $(LINTED)
	npx eslint $(LINTED)

format: deps
	npx prettier --write --log-level warn $(LINTED)

run: build
	@mkdir -p var/spool
	$(NODE) dist/relaybox.js --user=$$(id -un) config/dev.conf

test: build typecheck lint
	$(NODE) --import tsx --test --test-concurrency=1 --test-reporter=spec $(UNIT) $(INTEGRATION) $(ABUSE)

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

# One attack per item of issue 14 against the bundle, at the review's sizes (700 MB POST, 300,000
# RCPTs, a 300 MB message...): RSS peak, normal client served, nothing acknowledged lost. About 5-10
# minutes; the table goes to test-output/abuse.md. `make test` runs the same file with small sizes.
abuse: build
	RELAYBOX_ABUSE_LONG=1 $(NODE) --import tsx --test --test-concurrency=1 --test-reporter=spec $(ABUSE)

# A 10-minute soak at a fixed rate through a faulty upstream: RSS and open files must level off.
soak: build
	RELAYBOX_SOAK_SECONDS=$${SOAK_SECONDS:-600} $(NODE) --import tsx --test --test-reporter=spec test/soak/soak.test.ts

# relaybox vs Postfix and Haraka vs the machine's limits, and the office scenario (docs/benchmarks.md);
# about 25-35 min, at most BENCH_BUDGET_SECONDS (2700) before the last run starts. Needs root, a quiet
# machine, and the npm registry the first time (Haraka is installed into /var/cache/relaybox-bench).
bench: build
	scripts/bench/run

# One relaybox run (10 clients, a connection per message) under node --cpu-prof: where the main thread's time goes.
profile: build
	BENCH_PROFILE=1 scripts/bench/run

# E-MailRelay's own test suite against the bundle (README: "Two commands"); not part of `make test`.
emailrelay-suite: build
	@test -n "$(EMAILRELAY_SRC)" || { echo "make emailrelay-suite EMAILRELAY_SRC=<E-MailRelay source checkout>"; exit 2; }
	scripts/compat/emailrelay-suite $(EMAILRELAY_SUITE_ARGS) "$(EMAILRELAY_SRC)"

clean:
	rm -rf dist var test-output

readme-options: deps
	$(NODE) --import tsx scripts/readme-options.ts

dist/relaybox-appliance.js: $(shell find src -name '*.ts') package.json scripts/build-appliance.mjs
	$(NODE) scripts/build-appliance.mjs

.PHONY: deb deb-test image image-deps image-test image-test-raspi3b

# The .deb and the Raspberry Pi appliance image (README: "The appliance"). Not part of `make test`:
# deb-test takes 2-6 minutes, image 20-40 (the first time; the root file system is then cached under
# image/out), image-test 12-20. Host packages: scripts/install-image-deps. Heavy steps run niced.
deb: build
	packaging/build-deb

deb-test: build image-deps
	nice -n 19 ionice -c3 packaging/test-deb

image-deps:
	@scripts/install-image-deps

image: build image-deps
	nice -n 19 ionice -c3 image/assemble.sh

# image-test: three boots under qemu -M virt, then one under -M raspi3b (the card's own device tree and
# cmdline.txt, the SD card, the mini UART console; about 5 minutes). image-test-raspi3b: only the latter.
image-test: build image-deps
	@test -s image/out/relaybox-$$($(NODE) -p "require('./package.json').version")-arm64.img || XZ=0 nice -n 19 ionice -c3 image/assemble.sh
	$(NODE) --import tsx --test --test-concurrency=1 --test-reporter=spec test/image/appliance-image.test.ts test/image/raspi3b.test.ts

image-test-raspi3b: build image-deps
	@test -s image/out/relaybox-$$($(NODE) -p "require('./package.json').version")-arm64.img || XZ=0 nice -n 19 ionice -c3 image/assemble.sh
	$(NODE) --import tsx --test --test-reporter=spec test/image/raspi3b.test.ts
