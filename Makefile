# Vireo: the two commands that matter are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
BUILD_FLAGS ?=

.PHONY: all deps build release test unit-test e2e demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

release: deps
	$(SWIFT) build -c release --product vireo-gpu
	$(SWIFT) build -c release --product vireo

# The whole suite: unit and integration tests (Swift Testing), then the real-guest end-to-end tests.
test: deps
	bash scripts/test.sh

unit-test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

e2e: release
	bash tests/e2e/run-all.sh

# Boots the tiny guest on vireo-gpu and shows where to look (PNG URL, saved screenshot).
demo: release
	bash scripts/demo.sh

bench: deps
	$(SWIFT) build -c release --product vireo-gpu
	$(SWIFT) run -c release vireo-bench

clean:
	rm -rf .build out
