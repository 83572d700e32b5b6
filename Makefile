# SPDX-License-Identifier: MIT
# One Makefile: mapectl, the BPF objects and their skeletons, the tests.
# Outputs go to build/. Quiet unless V=1.

# SANITIZE=1: mapectl and the unit tests with ASan and UBSan, in build-san/
# (make SANITIZE=1 test-san runs the unit and cli tiers with them).
# FUZZ=1: the library with ASan, UBSan and libFuzzer's coverage, in build-fuzz/
# (make fuzz builds the targets of tests/fuzz and runs them).
ifeq ($(SANITIZE),1)
BUILD    ?= build-san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(FUZZ),1)
BUILD    ?= build-fuzz
SAN_FLAGS := -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -Wno-unknown-warning-option
else
BUILD    ?= build
SAN_FLAGS :=
endif
PREFIX   ?= /usr/local
UNITDIR  ?= $(PREFIX)/lib/systemd/system
DESTDIR  ?=
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PYTHON   ?= /usr/bin/python3

ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/armv7.*/arm/')
CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -std=gnu11 -Iinclude -Iuser -I$(BUILD)
CFLAGS   += $(SAN_FLAGS)
VERSION  := $(shell cat VERSION)
CFLAGS   += -DMAPE_VERSION='"$(VERSION)"'
LDLIBS   += -lbpf -lelf -lz -ljson-c -linih -lsystemd -lmicrohttpd -lupnp -lixml -pthread
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wno-unused-function \
	-Iinclude -Ibpf -I$(BUILD) -mcpu=v3

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' $(1) $(2);
endif

# The library (everything but the command front-ends) is what unit tests link.
CMD_SRCS  := user/mapectl.c $(wildcard user/cmd_*.c)
USER_SRCS := $(filter-out $(CMD_SRCS),$(wildcard user/*.c))
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS)) $(BUILD)/user/presets.o
CMD_OBJS  := $(patsubst user/%.c,$(BUILD)/user/%.o,$(CMD_SRCS))
BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
UNIT_SRCS := $(wildcard tests/unit/*.c)
HDRS      := $(wildcard include/*.h user/*.h bpf/lib/*.h)

# A target whose recipe fails leaves no half-written output behind.
.DELETE_ON_ERROR:

.PHONY: all clean test test-unit test-cli test-pkt test-lab test-vm test-san install demo bench profile deb test-deb fuzz fuzz-pkt soak
all: $(BUILD)/mapectl $(BPF_OBJS) $(BUILD)/trafgen

$(BUILD) $(BUILD)/user $(BUILD)/unit:
	$(Q)mkdir -p $@

# vmlinux.h from the running kernel's BTF, replaced only when it changes so
# that the BPF objects do not rebuild for nothing.
$(BUILD)/vmlinux.h: | $(BUILD)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# Every BPF object passes the stack check before it exists: each program's
# worst call chain, frames rounded to 32 bytes as Linux 6.1's verifier does,
# within STACK_BUDGET of the 512 the verifier allows (tools/stack-check.py).
STACK_BUDGET ?= 448
# Header dependencies come from the compilers (-MMD -MP: the .d files beside
# the objects, included below), so a header change rebuilds what includes it.
$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h tools/stack-check.py | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -MT $@ -MF $(BUILD)/$*.bpf.d -c $< -o $@.tmp
	$(Q)$(PYTHON) tools/stack-check.py --budget $(STACK_BUDGET) $@.tmp || { rm -f $@.tmp; exit 1; }
	$(Q)mv $@.tmp $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

# Built-in presets: generated from the rule tables at build time.
$(BUILD)/user/presets.c: data/jp-mape-rules.json tools/gen-presets.py | $(BUILD)/user
	$(call msg,GEN,$@)
	$(Q)$(PYTHON) tools/gen-presets.py $< > $@.tmp && mv $@.tmp $@

$(BUILD)/user/%.o: user/%.c | $(BUILD)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/user/presets.o: $(BUILD)/user/presets.c user/mape.h include/mape_map.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# Front-ends include the BPF skeletons.
$(CMD_OBJS): $(SKELS)
$(BUILD)/user/mapectl.o: VERSION

$(BUILD)/mapectl: $(CMD_OBJS) $(USER_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# The benchmarks' traffic generator, sink and bare forwarder.
$(BUILD)/trafgen: tools/bench/trafgen.c $(BUILD)/bench.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

$(BUILD)/unit-tests: $(UNIT_SRCS) $(USER_OBJS) tests/unit/test.h $(HDRS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit $(UNIT_SRCS) $(USER_OBJS) -o $@ $(LDLIBS)

# Every tier that exists; tests/run.sh prints the closing "N passed, N failed".
test: all $(BUILD)/unit-tests
	$(Q)tests/run.sh $(BUILD)

# The unit and cli tiers with ASan and UBSan, from build-san/ (any report
# fails the run: the sanitizers abort, the test sees the exit status).
test-san:
	$(Q)$(MAKE) --no-print-directory SANITIZE=1 BUILD=build-san build-san/mapectl \
		build-san/unit-tests
	$(Q)ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh build-san unit cli

# libFuzzer targets for every parser of user input (tests/fuzz/fuzz_*.c), each
# run FUZZ_TIME seconds from its committed seed corpus (tests/fuzz/corpus/T;
# what it finds goes to build-fuzz/corpus-T), with ASan, UBSan and leak checks.
# A crash leaves build-fuzz/crash-T-*: build-fuzz/fuzz_T FILE reproduces it.
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TIME ?= 60
FUZZ_CC ?= $(shell command -v clang-16 >/dev/null 2>&1 && echo clang-16 || echo clang)
fuzz:
	$(Q)$(MAKE) --no-print-directory FUZZ=1 BUILD=build-fuzz CC=$(FUZZ_CC) \
		$(addprefix build-fuzz/,$(FUZZ_TARGETS))
	$(Q)tools/fuzz.sh build-fuzz $(FUZZ_TIME) $(FUZZ_TARGETS)

# Packet fuzzing through the CE's and the BR's programs (tests/pkt/test_pktfuzz.py,
# which the pkt tier runs with 30000 packets): PKT_FUZZ_N packets (half as many
# through the BR), root. Inside Debian 12's 6.1: make test-vm VM_TIERS=pkt
# VM_ENV=PKT_FUZZ_N PKT_FUZZ_N=1000000 PYTEST_ADDOPTS='-k fuzz'.
PKT_FUZZ_N ?= 1000000
fuzz-pkt: all
	$(Q)PKT_FUZZ_N=$(PKT_FUZZ_N) MAPECTL=$(BUILD)/mapectl BUILD=$(BUILD) \
		$(PYTHON) -m pytest -q -s -p no:cacheprovider tests/pkt/test_pktfuzz.py

# The soak (tools/soak.py): traffic through a lab of its own for SOAK_MIN minutes
# with re-ups, prefix changes, full hosts and forwards; checks after each round. Root.
SOAK_MIN ?= 10
soak: all
	$(Q)tools/soak.sh $(SOAK_MIN)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(USER_OBJS) $(HDRS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer -Itests/fuzz $< $(USER_OBJS) -o $@ $(LDLIBS)

test-unit: $(BUILD)/unit-tests
	$(Q)$(BUILD)/unit-tests

test-cli: $(BUILD)/mapectl
	$(Q)$(PYTHON) -m pytest -q tests/cli

test-pkt: all
	$(Q)tests/run.sh $(BUILD) pkt

test-lab: all
	$(Q)tests/run.sh $(BUILD) lab

# The pkt and lab tiers inside Debian 12's own kernel under qemu
# (docs/testing.md): KPKG, VM_TIERS, VM_TIMEOUT, VM_CACHE, VM_ACCEL.
VM_TIERS ?= pkt lab
test-vm: all $(BUILD)/unit-tests
	$(Q)KPKG='$(KPKG)' VM_TIERS='$(VM_TIERS)' tools/vm/run-vm.sh $(abspath $(BUILD))

# The main job on the built-in default: the namespace lab, a short
# narrated scenario, then everything torn down (also on Ctrl-C or failure).
demo: all
	$(Q)MAPECTL=$(BUILD)/mapectl tools/lab/demo.sh

# Benchmarks: short variant (< 3 min); BENCH_ARGS=--long for the longer one.
bench: all
	$(Q)$(PYTHON) tools/bench/bench.py $(BENCH_ARGS)

# where the program time goes (perf, BPF JIT symbols); docs/performance.md
profile: all
	$(Q)$(PYTHON) tools/bench/profile.py $(PROFILE_ARGS)

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/mape \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)/etc/mape
	install -m 0755 $(BUILD)/mapectl $(DESTDIR)$(PREFIX)/sbin/mapectl
	install -m 0644 $(filter $(BUILD)/mape_%,$(BPF_OBJS)) $(DESTDIR)$(PREFIX)/lib/mape/
	sed 's|@SBINDIR@|$(PREFIX)/sbin|' packaging/mape.service > $(DESTDIR)$(UNITDIR)/mape.service
	[ -e $(DESTDIR)/etc/mape/mape.conf ] || \
		install -m 0644 packaging/mape.conf $(DESTDIR)/etc/mape/mape.conf
	install -d $(DESTDIR)$(PREFIX)/lib/dhcpcd/dhcpcd-hooks $(DESTDIR)$(PREFIX)/share/doc/mapectl
	install -m 0644 packaging/dhcpcd-hook $(DESTDIR)$(PREFIX)/lib/dhcpcd/dhcpcd-hooks/70-mape
	install -m 0644 packaging/dhcpcd-mape.conf $(DESTDIR)$(PREFIX)/share/doc/mapectl/

# The Debian package (debian/, debhelper), in $(BUILD)/: dpkg-buildpackage
# writes it beside the source tree, from where it is moved here.
deb:
	$(Q)mkdir -p $(BUILD)
	$(Q)dpkg-buildpackage -us -uc -b >$(BUILD)/deb.log 2>&1 || \
		{ tail -n 30 $(BUILD)/deb.log; exit 1; }
	$(Q)mv ../mapectl_$(VERSION)_*.deb ../mapectl_$(VERSION)_*.buildinfo \
		../mapectl_$(VERSION)_*.changes $(BUILD)/
	$(Q)rm -f ../mapectl-dbgsym_$(VERSION)_*.deb
	$(Q)ls $(BUILD)/mapectl_$(VERSION)_*.deb

# Build it, check it with lintian, install it, run the installed mapectl,
# verify the unit, remove it (tests/deb.sh).
test-deb: deb
	$(Q)tests/deb.sh $(BUILD)/mapectl_$(VERSION)_*.deb

clean:
	rm -rf $(BUILD) build-san build-fuzz

-include $(wildcard $(BUILD)/*.bpf.d $(BUILD)/user/*.d)
