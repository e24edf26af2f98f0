# evvm build. `make` builds everything; `make demo` and `make check` also
# install what they need first (see README.md).

B	?= build
CC	?= cc
SAN	?=

# Where `make install` puts things (DESTDIR is prepended to each).
PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
LIBDIR	?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR	?= $(PREFIX)/share
MANDIR	?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

# The version's one place is include/evvm/evvm.h.
EVVM_MAJOR := $(shell sed -n 's/^\#define EVVM_VERSION_MAJOR //p' include/evvm/evvm.h)
EVVM_MINOR := $(shell sed -n 's/^\#define EVVM_VERSION_MINOR //p' include/evvm/evvm.h)

CFLAGS_BASE := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
	       -Iinclude -fno-strict-aliasing -pthread -MMD -MP
ifeq ($(SAN),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS	+= -fsanitize=address,undefined
endif
override CFLAGS := $(CFLAGS_BASE) $(CFLAGS)
# libevent (evhttp) is loaded by cli/libevent.c when an API server starts:
# other commands do not pay for loading it.
LIB_LDLIBS := -pthread -luring -lz -llzma -llz4 -lzstd -lseccomp
LDLIBS	+= $(LIB_LDLIBS) -ljansson

LIB_SRCS := $(wildcard lib/*.c)
VMM_SRCS := $(wildcard vmm/*.c vmm/arch/x86/*.c vmm/boot/*.c)
DEV_SRCS := $(wildcard devices/*.c vhost/*.c)
VM_SRCS  := $(wildcard vm/*.c)
CLI_SRCS := $(filter-out cli/main.c,$(wildcard cli/*.c))

LIB_OBJS := $(patsubst %.c,$(B)/%.o,$(LIB_SRCS) $(VMM_SRCS) $(DEV_SRCS) $(VM_SRCS))
CLI_OBJS := $(patsubst %.c,$(B)/%.o,$(CLI_SRCS))

# The library's objects are compiled once, position-independent and with
# only the public API (EVVM_API) visible: libevvm.so and the archive that
# evvm, the tests and the benchmarks link are made of the same objects.
$(LIB_OBJS): CFLAGS += -fPIC -fvisibility=hidden
LIBEVVM := $(B)/libevvm.a
LIBEVVM_SONAME := libevvm.so.$(EVVM_MAJOR)
LIBEVVM_SO := $(B)/$(LIBEVVM_SONAME).$(EVVM_MINOR)
EVVM	:= $(B)/evvm
EVVM_HOOKS := $(B)/evvm-testhooks

.DEFAULT_GOAL := all
include guest/guest.mk
include guest/linuxboot/linuxboot.mk

UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(wildcard tests/unit/*.c))
INT_TESTS  := $(patsubst tests/integration/%.c,$(B)/tests/integration/%,$(wildcard tests/integration/*.c))

# Benchmarks: every build compiles them into $(B)/bench/; the default build
# also leaves the executables at bench/<name>.
BENCHES := bench/notify bench/blk bench/vhost-blk bench/net bench/api bench/jailer bench/peer \
	bench/snapshot
BENCH_TARGETS := $(addprefix $(B)/,$(BENCHES))
ifeq ($(B),build)
BENCH_TARGETS += $(BENCHES)
endif

.PHONY: all tests demo test bench-check check clean format install uninstall install-check
all: $(EVVM) $(LIBEVVM_SO) $(GUEST_ELF) linuxboot tests $(BENCH_TARGETS)

tests: $(UNIT_TESTS) $(INT_TESTS) $(EVVM_HOOKS) $(B)/helpers/jail-probe

# test_jailer's exec file: static and without sanitizers, so that it runs in
# a jail that has nothing else (outside $(B)/tests: it is no test program).
$(B)/helpers/jail-probe: tests/helpers/jail_probe.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -static -o $@ $<

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBEVVM): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# -z defs: every symbol the library needs is in it or in LIB_LDLIBS (not
# checkable with sanitizers, whose runtime the executable brings).
$(LIBEVVM_SO): $(LIB_OBJS) vm/libevvm.map
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(LIBEVVM_SONAME) -Wl,--version-script=vm/libevvm.map \
		$(if $(SAN),,-Wl,-z,defs) -o $@ $(LIB_OBJS) $(LIB_LDLIBS)
	ln -sf $(notdir $@) $(B)/$(LIBEVVM_SONAME)
	ln -sf $(LIBEVVM_SONAME) $(B)/libevvm.so

# The demo guest is linked into evvm itself.
$(B)/cli/demo_guest.o: cli/demo_guest.S $(GUEST_ELF)
	@mkdir -p $(dir $@)
	$(CC) -c -DDEMO_GUEST_PATH='"$(GUEST_ELF)"' $< -o $@

$(EVVM): $(B)/cli/main.o $(CLI_OBJS) $(B)/cli/demo_guest.o $(LIBEVVM)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# evvm with the test-only hooks (EVVM_TEST_HOOKS: EVVM_TEST_SECCOMP_VIOLATE
# makes a thread break its seccomp list), for the tests that need them. Its
# seccomp.o replaces the library's; the release binary above never has them.
$(B)/testhooks/seccomp.o: lib/seccomp.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DEVVM_TEST_HOOKS -c $< -o $@

$(EVVM_HOOKS): $(B)/cli/main.o $(CLI_OBJS) $(B)/cli/demo_guest.o $(B)/testhooks/seccomp.o $(LIBEVVM)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests link what they test from libevvm and the CLI objects, and tests/lib.
TEST_LIB_OBJS := $(patsubst %.c,$(B)/%.o,$(wildcard tests/lib/*.c))
# Built only as prerequisites of the pattern rule below: without this make
# deletes them as intermediates and relinks every test on the next run.
.SECONDARY: $(TEST_LIB_OBJS)
$(B)/tests/%: tests/%.c $(TEST_LIB_OBJS) $(LIBEVVM) $(CLI_OBJS) $(B)/cli/demo_guest.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ivmm -Ivm -Icli -Itests/lib $(LDFLAGS) -o $@ $< $(TEST_LIB_OBJS) $(CLI_OBJS) \
		$(B)/cli/demo_guest.o $(LIBEVVM) -lcmocka $(LDLIBS)

# Bench sources compile through $(B)/%.o, whose .d files track their headers
# (the filter drops what a .d file of an older layout adds to a binary).
$(B)/bench/notify: $(B)/bench/notify.o $(B)/bench/raw_kvm.o $(B)/cli/demo_guest.o $(LIBEVVM)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

$(B)/bench/blk: $(B)/bench/blk.o $(B)/cli/demo_guest.o $(LIBEVVM)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

$(B)/bench/vhost-blk: $(B)/bench/vhost_blk.o $(B)/bench/vhost_blk_drive.o \
		$(B)/bench/vhost_blk_proc.o $(LIBEVVM)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

$(B)/bench/net: $(B)/bench/net.o $(B)/tests/lib/frame_peer.o $(B)/tests/lib/netpeer.o
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) -pthread

$(B)/bench/api: $(B)/bench/api.o $(B)/tests/lib/api_client.o
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) -ljansson

$(B)/bench/snapshot: $(B)/bench/snapshot.o $(B)/tests/lib/api_client.o
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^)

$(B)/bench/jailer: $(B)/bench/jailer.o
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^)

$(B)/bench/peer: $(B)/bench/peer.o $(B)/bench/peer_run.o $(B)/bench/peer_report.o $(LIBEVVM)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

bench/%: $(B)/bench/%
	cp $< $@

demo:
	@tools/deps build
	@$(MAKE) --no-print-directory $(EVVM)
	$(EVVM) run

# Build and run the tests of one build ($(B), $(CC), $(SAN)).
test: all
	@tools/run-tests $(B)

# Every benchmark of one build once, short: that it runs, not its figures.
bench-check: all
	@tools/bench-check $(B)

# Everything CI runs: the tests built with gcc, then in two lanes side by
# side: the gcc build's KVM tests under tools/kvm-nested where /dev/kvm is
# missing (QEMU TCG: one CPU, the longest part of check), and on the other
# CPU the fuzzers for a bounded time, the tests built with gcc and
# ASan+UBSan (leaks fail) and with clang, and the gcc build installed and
# used as a user would (install-check). The ASan and clang builds skip the
# KVM tests, saying why. Then every benchmark once in a short mode
# (tools/bench-check: it runs, prints its table, writes valid JSON; figures
# not judged). All of them run even if one fails; the last line
# sums them, and the exit status is non-zero if any build or test failed.
CHECK_BUILDS := build build-asan build-clang build-install
CHECK_RESULTS := $(CHECK_BUILDS) build/bench-check
# fuzz.mk's default (60 s for `make fuzz-run`) is not check's: 120 s unless
# FUZZ_SECONDS is given on the command line or in the environment.
CHECK_FUZZ_SECONDS = $(if $(filter command line environment,$(origin FUZZ_SECONDS)),$(FUZZ_SECONDS),120)

check:
	@tools/deps test
	@rm -f $(addsuffix /test-counts,$(CHECK_RESULTS))
	@EVVM_NESTED=defer $(MAKE) --no-print-directory test B=build; \
	tools/run-tests --nested build >build/nested-pass.log 2>&1 & nested=$$!; \
	$(MAKE) --no-print-directory fuzz-run B=build-fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS); \
	fuzz=$$?; \
	EVVM_NESTED=off $(MAKE) --no-print-directory test B=build-asan SAN=1; \
	EVVM_NESTED=off $(MAKE) --no-print-directory test B=build-clang CC=clang; \
	$(MAKE) --no-print-directory install-check B=build; \
	wait $$nested; cat build/nested-pass.log; \
	tools/bench-check build; \
	tools/test-verdict $(CHECK_RESULTS) && [ $$fuzz = 0 ] || \
	{ [ $$fuzz = 0 ] || echo "make check: the fuzzers failed (above)"; exit 1; }

clean:
	rm -rf $(B) $(B)-install $(BENCHES)

MAN_PAGES := $(wildcard docs/man/*.1)

# evvm.pc is written at install time: its paths are the install's.
install: $(EVVM) $(LIBEVVM_SO) $(GUEST_ELF)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/evvm \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DATADIR)/evvm
	install -m 755 $(EVVM) $(DESTDIR)$(BINDIR)/evvm
	install -m 755 $(LIBEVVM_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIBEVVM_SO)) $(DESTDIR)$(LIBDIR)/$(LIBEVVM_SONAME)
	ln -sf $(LIBEVVM_SONAME) $(DESTDIR)$(LIBDIR)/libevvm.so
	install -m 644 include/evvm/evvm.h $(DESTDIR)$(INCLUDEDIR)/evvm/evvm.h
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' \
		'demo_kernel=$(DATADIR)/evvm/evvm-guest.elf' '' 'Name: evvm' \
		'Description: KVM micro-VMM library: make and run VMs from C' \
		'Version: $(EVVM_MAJOR).$(EVVM_MINOR)' 'Cflags: -I$${includedir}' \
		'Libs: -L$${libdir} -levvm' >$(DESTDIR)$(PKGCONFIGDIR)/evvm.pc
	for p in $(MAN_PAGES); do \
		sed 's/@VERSION@/$(EVVM_MAJOR).$(EVVM_MINOR)/' $$p >$(DESTDIR)$(MANDIR)/man1/$${p##*/} || exit 1; \
		chmod 644 $(DESTDIR)$(MANDIR)/man1/$${p##*/}; \
	done
	install -m 644 $(GUEST_ELF) $(DESTDIR)$(DATADIR)/evvm/evvm-guest.elf

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/evvm $(DESTDIR)$(LIBDIR)/$(notdir $(LIBEVVM_SO)) \
		$(DESTDIR)$(LIBDIR)/$(LIBEVVM_SONAME) $(DESTDIR)$(LIBDIR)/libevvm.so \
		$(DESTDIR)$(INCLUDEDIR)/evvm/evvm.h $(DESTDIR)$(PKGCONFIGDIR)/evvm.pc \
		$(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN_PAGES))) \
		$(DESTDIR)$(DATADIR)/evvm/evvm-guest.elf
	rmdir $(DESTDIR)$(INCLUDEDIR)/evvm $(DESTDIR)$(DATADIR)/evvm 2>/dev/null || true

# Install into a scratch DESTDIR and use it as a user would: the exported
# symbols, the man pages, examples/embed.c built with pkg-config and run,
# then uninstall; counts in $(B)-install/test-counts for tools/test-verdict.
install-check: $(EVVM) $(LIBEVVM_SO) $(GUEST_ELF)
	@tools/install-check $(B)

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

-include fuzz/fuzz.mk
-include $(shell find $(B) -name '*.d' 2>/dev/null)
