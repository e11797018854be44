# Build and packaging targets of cmd/lattice and deploy/. The top-level
# Makefile includes this file (`include deploy/deploy.mk`); it also runs alone:
#   make -f deploy/deploy.mk image
#
#   build         static binary bin/lattice (CGO_ENABLED=0, version stamped)
#   image         build, then the lattice:dev image FROM scratch (context: deploy/)
#   compose-up    image, then the three-node cluster of deploy/docker-compose.yml
#   compose-down  stop it and delete its volumes
#   compose-test  the Docker Compose smoke test (test/compose)

GO      ?= go
BIN     ?= $(CURDIR)/bin
LATTICE ?= $(BIN)/lattice
IMAGE   ?= lattice:dev
DOCKER  ?= docker
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The Compose v2 plugin when present, else the v1 docker-compose binary.
COMPOSE ?= $(shell $(DOCKER) compose version >/dev/null 2>&1 && echo "$(DOCKER) compose" || echo docker-compose)
COMPOSE_FILE := deploy/docker-compose.yml

.PHONY: build image compose-up compose-down compose-test

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w -X main.version=$(VERSION)' -o $(LATTICE) ./cmd/lattice

image: build
	cp $(LATTICE) deploy/lattice
	$(DOCKER) build -t $(IMAGE) -f deploy/Dockerfile deploy

compose-up: image
	LATTICE_IMAGE=$(IMAGE) $(COMPOSE) -f $(COMPOSE_FILE) up -d

compose-down:
	$(COMPOSE) -f $(COMPOSE_FILE) down -v

compose-test:
	LATTICE_COMPOSE=1 $(GO) test -count=1 -timeout 20m -v ./test/compose/...
