# Lattice: build and test entry points. `make test` is what CI runs (.ci/run).

GO        ?= go
BIN       := $(CURDIR)/bin
LATTICE   := $(BIN)/lattice
PKGS      := ./...
TEST_TIMEOUT ?= 25m

.PHONY: all dev test deps fmt-check vet unit jepsen-smoke compose-smoke clean

all: build

# build, image, compose-up, compose-down, compose-test
include deploy/deploy.mk

# deps installs what the test suite needs on a fresh Debian machine (only when
# run as root and only what is missing): nftables and iproute2 for the
# fault-injection suite, etcd-server for the tests that start a real etcd
# cluster (lattice bench --etcd and --vs-etcd).
deps:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		missing=""; \
		command -v nft >/dev/null || missing="$$missing nftables"; \
		command -v ip  >/dev/null || missing="$$missing iproute2"; \
		command -v etcd >/dev/null || missing="$$missing etcd-server"; \
		if [ -n "$$missing" ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		fi; \
	fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -timeout $(TEST_TIMEOUT) $(PKGS)

# dev builds the binary and runs a local three-node cluster (Ctrl-C stops it).
dev: build
	$(LATTICE) dev

# jepsen-smoke builds bin/lattice and runs the fault-injection suite briefly
# (docs/jepsen.md): 3 nodes, every workload, partitions and kills, for
# JEPSEN_SMOKE_TIME, results in a fresh folder under $TMPDIR (kept). It fails
# when a checker says false or the run cannot be carried out; an "unknown"
# verdict (exit 3: no violation, some checker could not decide) is reported
# and passes. It needs root, ip and nft (`make deps` installs them) and is
# skipped with one line without them.
JEPSEN_SMOKE_TIME ?= 90s

jepsen-smoke:
	@if [ "$$(id -u)" != "0" ]; then \
		echo "jepsen smoke test skipped: needs root (network namespaces, nftables)"; \
	elif ! command -v ip >/dev/null || ! command -v nft >/dev/null; then \
		echo "jepsen smoke test skipped: needs ip and nft (make deps installs them)"; \
	else \
		$(MAKE) --no-print-directory build || exit 1; \
		dir=$$(mktemp -d "$${TMPDIR:-/tmp}/lattice-jepsen-smoke.XXXXXX") || exit 1; \
		$(LATTICE) jepsen --nodes 3 --time $(JEPSEN_SMOKE_TIME) --workload all \
			--nemesis partition,kill --progress-interval 15s --results "$$dir"; rc=$$?; \
		if [ $$rc -eq 3 ]; then \
			echo "jepsen smoke test: no violation, but a checker could not decide (results in $$dir)"; rc=0; \
		fi; \
		exit $$rc; \
	fi

# compose-smoke runs the Docker Compose smoke test when a Docker engine answers.
compose-smoke:
	@if docker info >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory compose-test; \
	else \
		echo "compose smoke test skipped: no Docker engine answers 'docker info'"; \
	fi

# test runs every test: formatting, vet, the race-enabled test suite, the
# fault-injection smoke test and the Docker Compose smoke test.
test: deps fmt-check vet unit jepsen-smoke compose-smoke

clean:
	rm -rf $(BIN)
