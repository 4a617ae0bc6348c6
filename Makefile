# Outpost — the commands a newcomer needs.
#   make run    a local cluster: a control plane and two nodes (fra on :8787,
#               sfo on :8788) serving the examples; Ctrl-C stops it. For one
#               handler alone: ./target/release/outpost dev examples/hello
#   make test   every test
#   make bench  benchmarks of `make release`'s binary, written to
#               bench/RESULTS.md
#   make release  the binary to deploy, optimised with a profile of the
#               benchmark handlers (PGO): target/pgo/outpost
#   make lint   rustfmt + clippy, warnings as errors

CARGO ?= cargo
V8_INSTALL := ../shared/v8/install.sh

.PHONY: run test bench lint fmt build release deps test-deps v8

# Put the offline V8 archive in cargo's cache (no-op without it: cargo then
# downloads V8 itself).
v8:
	@if [ -x "$(V8_INSTALL)" ] || [ -f "$(V8_INSTALL)" ]; then sh $(V8_INSTALL); fi

# lld links the V8 archive much faster (.cargo/config.toml asks for it).
deps:
	@command -v ld.lld >/dev/null 2>&1 || { \
	  echo "installing lld (the linker .cargo/config.toml uses)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq lld; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq lld; fi; }

# The PostgreSQL store's tests start a private PostgreSQL server.
test-deps: deps
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "$$OUTPOST_PG_BIN" ] || { \
	  echo "installing postgresql (the PostgreSQL store's tests run a real server)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq postgresql; fi; }

build: deps v8
	$(CARGO) build --release --bin outpost

# Profile-guided: an instrumented build, a training run, the optimised
# build (scripts/pgo-build.sh).
release: deps v8
	bash scripts/pgo-build.sh

run: build
	bash scripts/run-cluster.sh

test: test-deps v8
	$(CARGO) test --workspace --all-targets

bench: release
	OUTPOST_BIN=target/pgo/outpost ./bench/run.sh

lint: deps v8
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
