# Thin wrapper over CMake. Every entry point installs missing Debian
# packages first (tools/deps.sh does nothing when all are present).
JOBS ?= $(shell nproc)
BUILD ?= build

.PHONY: all deps build check check-release check-asan check-fuzz demo demo-stop bench thrash clean

all: build

deps:
	@bash tools/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# make check: the release build with every test (unit, simulation,
# integration), the sanitizer build with unit and simulation tests, and
# the libFuzzer build with a short bounded run of every fuzzer.
check: deps
	@bash tests/check.sh

demo: build
	@bash tools/demo.sh start

demo-stop:
	@bash tools/demo.sh stop

bench: build
	@bash tests/bench/run.sh

thrash: build
	@bash tests/thrash.sh

clean:
	rm -rf build build-asan build-fuzz
