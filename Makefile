# portcullis: thin wrappers over scripts/ and meson. See README.md.
#   make run    install what is needed, build (release), start on 127.0.0.1:8000
#               (development cookies without Secure: DEV_FLAGS below)
#   make test   install, build with ASan+UBSan, run unit and API tests against SQLite,
#               then the store suite and the API tests again against a throwaway
#               PostgreSQL cluster (scripts/with-postgres)
#   make bench  install, build (release), run the wrk scenarios in bench/
#               (make bench-postgres: also on a throwaway PostgreSQL cluster)
#   make fuzz   install clang, build the libFuzzer drivers, fuzz each parser FUZZ_SECONDS
#   make mutants  apply each mutant of tests/mutants.txt in a scratch copy; its tests must fail

PYTHON ?= /usr/bin/python3
ASAN_DIR := build/asan
REL_DIR := build/release
FUZZ_DIR := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := form cookie jwt claims email phc router config totp_uri oidc forward
SAN_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all run test unit api unit-pg api-pg test-postgres bench bench-postgres fuzz build release asan bootstrap clean mutants

all: release

bootstrap:
	@scripts/bootstrap

$(REL_DIR)/build.ninja:
	meson setup $(REL_DIR) --buildtype=release -Db_ndebug=true

$(ASAN_DIR)/build.ninja:
	meson setup $(ASAN_DIR) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

release: bootstrap $(REL_DIR)/build.ninja
	ninja -C $(REL_DIR)

asan: bootstrap $(ASAN_DIR)/build.ninja
	ninja -C $(ASAN_DIR)

build: release

# Development over plain HTTP: the session cookies go without Secure, or a
# client on http://127.0.0.1:8000 would never send them back (cookie login
# 204, then every request 401). The server warns loudly at start; the
# production default (no flag) stays Secure.
DEV_FLAGS := --cookie-secure=false --user-account-cookie-secure=false

run: release
	./$(REL_DIR)/portcullis serve $(DEV_FLAGS)

unit: asan
	$(SAN_ENV) meson test -C $(ASAN_DIR) --print-errorlogs

api: asan
	$(SAN_ENV) PORTCULLIS_BIN=$(CURDIR)/$(ASAN_DIR)/portcullis $(PYTHON) -m pytest -q tests/api

# The PostgreSQL pass: one throwaway cluster (stopped and removed afterwards,
# also on failure) for the store conformance suite and the whole API suite;
# PORTCULLIS_TEST_DATABASE_URL points both at it.
unit-pg: asan
	$(SAN_ENV) meson test -C $(ASAN_DIR) --print-errorlogs store

api-pg: asan
	$(SAN_ENV) PORTCULLIS_BIN=$(CURDIR)/$(ASAN_DIR)/portcullis $(PYTHON) -m pytest -q tests/api

test-postgres: asan
	scripts/with-postgres $(MAKE) --no-print-directory unit-pg api-pg

test: unit api test-postgres

bench: release
	bench/run $(BENCH_ARGS)

# the same, with the PostgreSQL rows beside SQLite's (make bench BENCH_ARGS=--postgres)
bench-postgres: release
	bench/run --postgres $(BENCH_ARGS)

# under a throwaway PostgreSQL, so that the PostgreSQL mutants' tests run
mutants: bootstrap
	scripts/with-postgres scripts/mutants

$(FUZZ_DIR)/build.ninja:
	CC=clang meson setup $(FUZZ_DIR) --buildtype=debug -Db_sanitize=address,undefined \
		-Db_lundef=false -Dfuzz=true

fuzz:
	@scripts/bootstrap fuzz
	$(MAKE) $(FUZZ_DIR)/build.ninja
	ninja -C $(FUZZ_DIR)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus/$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
		$(SAN_ENV) $(FUZZ_DIR)/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			$(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

clean:
	rm -rf build
