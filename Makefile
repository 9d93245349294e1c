# Thin wrappers: the build is Meson's, the dependencies are scripts/install-deps'.
BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTEST     ?= /usr/bin/python3 -m pytest
DATA_DIR   ?= var

.PHONY: all deps build run test test-unit test-integration test-asan bench soak fmt fmt-check clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: deps build
	mkdir -p $(DATA_DIR)
	./$(BUILD)/ganglion serve --data-dir $(DATA_DIR)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

build-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# Unit tests run against SQLite and a throwaway PostgreSQL that with-pg starts and removes.
test-unit: build
	tests/harness/with-pg meson test -C $(BUILD) --print-errorlogs

test-integration: build
	GANGLION_BIN=$(CURDIR)/$(BUILD)/ganglion $(PYTEST) -q tests/integration

# The sanitizer build runs the unit suite and the integration suite against the ASan binary.
test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  tests/harness/with-pg meson test -C $(ASAN_BUILD) --print-errorlogs
	GANGLION_BIN=$(CURDIR)/$(ASAN_BUILD)/ganglion GANGLION_SANITIZED=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(PYTEST) -q tests/integration

test: deps
	$(MAKE) test-unit
	$(MAKE) test-integration
	$(MAKE) test-asan

# Every benchmark: each bench/<name>/run measures ganglion next to its peer in the same run.
# The soak is not one of them (it has no peer and takes 10 minutes): `make soak`.
bench: deps build
	@set -e; for b in bench/*/run; do [ "$$b" = bench/soak/run ] && continue; echo "== $$b"; $$b; done

# Mixed traffic for SOAK_SECONDS (default 600): errors, RSS and loop lag (docs/testing.md).
soak: deps build
	nice bench/soak/run

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

fmt-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
