# Thin wrappers: the build is Meson's, the dependencies are scripts/install-deps'.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
DEB_BUILD  ?= build-deb
DIST       ?= dist
COV_BUILD  ?= build-cov
REL_BUILD  ?= build-rel
# Seconds each libFuzzer harness runs: `make fuzz` for a real run, `make test-fuzz` in the suite
# (a minute each in CI, where CI is set; 10 s for a local `make test`), as many at once as there
# are cores (tests/fuzz/run; FUZZ_JOBS=1 for one at a time).
FUZZ_SECONDS      ?= 60
FUZZ_TEST_SECONDS ?= $(if $(CI),60,10)
PYTEST     ?= /usr/bin/python3 -m pytest
DATA_DIR   ?= var
# `make run` on another address: PORT=7710 (HTTP on 127.0.0.1:7710, ZMQ on the two ports after
# it), or LISTEN=HOST:PORT for HTTP alone; CONFIG=FILE passes an INI file (see docs/operations.md).
# A second instance also needs its own DATA_DIR (the data dir is locked by the running one).
PORT       ?=
LISTEN     ?= $(if $(PORT),127.0.0.1:$(PORT))
ZMQ_LISTEN ?= $(if $(PORT),127.0.0.1:$(shell expr $(PORT) + 1))
ZMQ_PUB    ?= $(if $(PORT),127.0.0.1:$(shell expr $(PORT) + 2))
CONFIG     ?=
# `make run MQTT_PORT=1883` also starts a throwaway mosquitto on 127.0.0.1:1883 and connects the
# daemon to it (tests/harness/with-mqtt; docs/mqtt.md). Without it no broker is started.
MQTT_PORT  ?=

.PHONY: all deps build run test test-unit test-integration test-asan build-asan bench soak fmt \
        fmt-check clean fuzz fuzz-build test-fuzz coverage nab deb lint lint-deep gate gate-baseline \
        build-release

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: deps build
	mkdir -p $(DATA_DIR)
	$(if $(MQTT_PORT),tests/harness/with-mqtt --port $(MQTT_PORT)) ./$(BUILD)/ganglion serve --data-dir $(DATA_DIR) $(if $(CONFIG),--config $(CONFIG)) \
	  $(if $(LISTEN),--listen $(LISTEN)) $(if $(ZMQ_LISTEN),--zmq-listen $(ZMQ_LISTEN)) \
	  $(if $(ZMQ_PUB),--zmq-pub $(ZMQ_PUB))

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

build-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# The Debian package (packaging/deb/build-deb): $(DIST)/ganglion_VERSION_ARCH.deb, from a build of
# its own in the configuration the test suites run (-O2, assertions on), stripped when packed.
$(DEB_BUILD)/build.ninja:
	meson setup $(DEB_BUILD) --buildtype=debugoptimized

deb: $(DEB_BUILD)/build.ninja
	ninja -C $(DEB_BUILD) ganglion
	packaging/deb/build-deb $(DEB_BUILD)/ganglion $(DIST)

# NAB: the three profile scores and the per-category table (bench/nab/run, niced).
nab: $(BUILD)/build.ninja
	bench/nab/run

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

# The libFuzzer harnesses (tests/fuzz): a clang build of their own, ASan and UBSan included.
# Warnings are not errors there: the gcc build is the one that enforces them.
$(FUZZ_BUILD)/build.ninja:
	CC=clang-14 meson setup $(FUZZ_BUILD) --buildtype=debugoptimized -Dfuzz=true -Dwerror=false

fuzz-build: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

# Each harness for FUZZ_SECONDS (FUZZ_ONLY="auth sse" picks some); fails on any finding.
fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS)

test-fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_TEST_SECONDS)

test: deps
	$(MAKE) lint
	$(MAKE) gate
	$(MAKE) test-unit
	$(MAKE) test-integration
	$(MAKE) test-asan
	$(MAKE) test-fuzz

# Static analysis: clang-tidy (.clang-tidy, tests/.clang-tidy) and cppcheck (tools/cppcheck.supp)
# over every file in the build's compile_commands.json; fails on any finding (docs/testing.md).
lint: build
	nice tools/lint $(BUILD)

# The same with the clang static analyzer in clang-tidy: ~20x slower, so not part of `make test`.
lint-deep: build
	LINT_DEEP=1 nice tools/lint $(BUILD)

# The performance gate: instructions per operation of the hot paths under callgrind against
# bench/gate/baseline.json; fails on a regression over 15 %. gate-baseline rewrites the baseline.
gate: build
	nice bench/gate/run $(BUILD)

gate-baseline: build
	nice bench/gate/run --update $(BUILD)

# The release build type (-O3, NDEBUG) with warnings as errors: what a packager would build.
$(REL_BUILD)/build.ninja:
	meson setup $(REL_BUILD) --buildtype=release

build-release: $(REL_BUILD)/build.ninja
	ninja -C $(REL_BUILD)

# Line and branch coverage of src/ by the unit and integration suites (gcc, gcovr).
coverage: deps
	scripts/coverage $(COV_BUILD)

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(COV_BUILD) $(DEB_BUILD) $(REL_BUILD) $(DIST)
