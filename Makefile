# SPDX-License-Identifier: GPL-2.0
#
# rvt: a generic software RDMA transport for Linux, in Rust.
#
#   make demo    bootstrap everything, boot a VM, create two rvt devices on a
#                veth pair in two network namespaces and show them
#   make check   every test tier (host, build lints, KUnit, VM scenarios);
#                ends with "check: N passed, M failed"
#   make soak    the long hostile-input and fault runs (not in make check)
#   make bench   rvt against rdma_rxe and siw (not in make check)
#
# Everything built or downloaded lives under $(RVT_CACHE) (~/.cache/rvt), not
# in the repository. Kbuild (the file named Kbuild) describes the modules.

SHELL := /bin/bash
TOP := $(CURDIR)
export RVT_PROFILE ?= default

.PHONY: all toolchain kernel modules demo check bench soak host-test lint clean help

all: modules

help:
	@sed -n '3,16p' Makefile

toolchain:
	scripts/bootstrap-toolchain

kernel: toolchain
	scripts/build-kernel

# Build rvt.ko and the backends against the cached kernel (or KDIR=...),
# with the kernel's clippy lints; warnings are errors.
modules:
	scripts/build-modules

demo:
	scripts/demo

check:
	scripts/check

bench:
	scripts/bench

soak:
	scripts/soak

host-test: toolchain
	scripts/fetch-crates
	scripts/in-root cargo test --offline --manifest-path rvt/proto/Cargo.toml

clean:
	rm -rf rvt/proto/target
	find rvt backends tests -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' \
		-o -name '.*.cmd' -o -name 'modules.order' -o -name 'Module.symvers' \
		-o -name 'rvt_bindings_generated.rs' -o -name '*.rmeta' | xargs rm -f
