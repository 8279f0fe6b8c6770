# portcullis: thin wrappers over scripts/ and meson. See README.md.
#   make run    install what is needed, build (release), start on 127.0.0.1:8000
#   make test   install, build with ASan+UBSan, run unit and API tests
#   make bench  install, build (release), run the wrk scenarios in bench/

PYTHON ?= /usr/bin/python3
ASAN_DIR := build/asan
REL_DIR := build/release
SAN_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all run test unit api bench build release asan bootstrap clean

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

run: release
	./$(REL_DIR)/portcullis serve

unit: asan
	$(SAN_ENV) meson test -C $(ASAN_DIR) --print-errorlogs

api: asan
	$(SAN_ENV) PORTCULLIS_BIN=$(CURDIR)/$(ASAN_DIR)/portcullis $(PYTHON) -m pytest -q tests/api

test: unit api

bench: release
	bench/run

clean:
	rm -rf build
