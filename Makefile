# tether: two commands set everything up on a fresh Debian/Ubuntu machine.
#   make demo    build and run a scripted session on loopback
#   make test    build and run the whole test suite
# Other targets: make (release build), make install PREFIX=DIR, make package (.deb), make docs,
#                make bench, make bench-uring, make test-sanitize, make fuzz, make checkheaders, make clean.

PREFIX ?= /usr/local
JOBS ?= $(shell nproc)

.PHONY: all deps release demo test test-sanitize bench bench-uring fuzz install package docs checkheaders clean

all: release

deps:
	@scripts/install-deps.sh

release: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

demo: release
	@scripts/demo.sh build/release/tools/tether/tether

test: deps
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev -j $(JOBS)
	@ctest --preset dev

test-sanitize: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan -j $(JOBS)
	@ctest --preset tsan -L "thread|async"

bench:
	@scripts/install-deps.sh --bench
	@cmake --preset bench >/dev/null
	@cmake --build --preset bench -j $(JOBS)
	@bench/run.sh

# The io_uring backend against epoll and the peers, with system calls per message (issue 9).
bench-uring:
	@scripts/install-deps.sh --bench
	@cmake --preset bench >/dev/null
	@cmake --build --preset bench -j $(JOBS)
	@python3 bench/uring.py

fuzz:
	@scripts/install-deps.sh --fuzz
	@fuzz/run.sh

install: release
	@cmake --install build/release --prefix $(PREFIX)

package: release
	@cd build/release && cpack -G DEB
	@ls build/release/package/*.deb

docs:
	@scripts/install-deps.sh --docs
	@cmake --preset release >/dev/null
	@cmake --build --preset release --target docs
	@echo "API reference: build/release/docs/html/index.html"

checkheaders: deps
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev --target checkheaders

clean:
	rm -rf build
