# The one test command: `make test`. It installs what the tests need
# (Chromium and PostgreSQL from Debian's packages when missing, the browser
# tests' npm packages), then runs go vet, staticcheck and gofmt, the Go
# tests with -race, a short run of every fuzz target, and the browser tests.
# Any finding fails it.

SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 10s

.PHONY: test deps vet gotest fuzz e2e build run

test: deps vet gotest fuzz e2e

build:
	$(GO) build -o turnbase ./cmd/turnbase

run:
	$(GO) run ./cmd/turnbase serve

# deps installs the machine packages and npm packages the tests use.
deps:
	@need=(); \
	command -v chromium >/dev/null || need+=(chromium); \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need+=(postgresql); \
	if [ $${#need[@]} -gt 0 ]; then \
		echo "installing $${need[*]} from Debian's packages"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq "$${need[@]}" >/dev/null; \
	fi
	cd web/e2e && npm ci --no-audit --no-fund --loglevel=error

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

vet:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

gotest:
	$(GO) test -race -count=1 -timeout 30m ./...

# fuzz runs each fuzz target for FUZZTIME.
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/^func //'); do \
			echo "fuzz $$dir $$t ($(FUZZTIME))"; \
			out=$$(mktemp); \
			if ! $(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$dir >$$out 2>&1; then \
				tail -20 $$out; \
				echo "fuzz $$t: failed; once more (a crasher it found is in testdata and fails again at once)"; \
				$(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$dir >$$out 2>&1 || { tail -40 $$out; echo "fuzz $$t failed"; rm -f $$out; exit 1; }; \
			fi; \
			rm -f $$out; \
		done; \
	done

e2e:
	cd web/e2e && node --test
