# evvm build. `make` builds everything; `make demo` and `make check` also
# install what they need first (see README.md).

B	?= build
CC	?= cc
SAN	?=

CFLAGS_BASE := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
	       -Iinclude -fno-strict-aliasing -pthread -MMD -MP
ifeq ($(SAN),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS	+= -fsanitize=address,undefined
endif
override CFLAGS := $(CFLAGS_BASE) $(CFLAGS)
# libmicrohttpd is loaded by cli/mhd.c when an API server starts (its GnuTLS
# dependencies would otherwise load with every evvm process).
LDLIBS	+= -pthread -luring -lz -llzma -llz4 -lzstd -ljansson

LIB_SRCS := $(wildcard lib/*.c)
VMM_SRCS := $(wildcard vmm/*.c vmm/arch/x86/*.c vmm/boot/*.c)
DEV_SRCS := $(wildcard devices/*.c vhost/*.c)
CLI_SRCS := $(filter-out cli/main.c,$(wildcard cli/*.c))

LIB_OBJS := $(patsubst %.c,$(B)/%.o,$(LIB_SRCS) $(VMM_SRCS) $(DEV_SRCS))
CLI_OBJS := $(patsubst %.c,$(B)/%.o,$(CLI_SRCS))

LIBEVVM := $(B)/libevvm.a
EVVM	:= $(B)/evvm

.DEFAULT_GOAL := all
include guest/guest.mk
include guest/linuxboot/linuxboot.mk

UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(wildcard tests/unit/*.c))
INT_TESTS  := $(patsubst tests/integration/%.c,$(B)/tests/integration/%,$(wildcard tests/integration/*.c))

# Benchmarks: every build compiles them into $(B)/bench/; the default build
# also leaves the executables at bench/<name>.
BENCHES := bench/notify bench/blk bench/vhost-blk bench/net bench/api bench/jailer
BENCH_TARGETS := $(addprefix $(B)/,$(BENCHES))
ifeq ($(B),build)
BENCH_TARGETS += $(BENCHES)
endif

.PHONY: all tests demo test check clean format
all: $(EVVM) $(GUEST_ELF) linuxboot tests $(BENCH_TARGETS)

tests: $(UNIT_TESTS) $(INT_TESTS) $(B)/helpers/jail-probe

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

# The demo guest is linked into evvm itself.
$(B)/cli/demo_guest.o: cli/demo_guest.S $(GUEST_ELF)
	@mkdir -p $(dir $@)
	$(CC) -c -DDEMO_GUEST_PATH='"$(GUEST_ELF)"' $< -o $@

$(EVVM): $(B)/cli/main.o $(CLI_OBJS) $(B)/cli/demo_guest.o $(LIBEVVM)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests link what they test from libevvm and the CLI objects, and tests/lib.
TEST_LIB_OBJS := $(patsubst %.c,$(B)/%.o,$(wildcard tests/lib/*.c))
# Built only as prerequisites of the pattern rule below: without this make
# deletes them as intermediates and relinks every test on the next run.
.SECONDARY: $(TEST_LIB_OBJS)
$(B)/tests/%: tests/%.c $(TEST_LIB_OBJS) $(LIBEVVM) $(CLI_OBJS) $(B)/cli/demo_guest.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ivmm -Icli -Itests/lib $(LDFLAGS) -o $@ $< $(TEST_LIB_OBJS) $(CLI_OBJS) \
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
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^)

$(B)/bench/jailer: $(B)/bench/jailer.o
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^)

bench/%: $(B)/bench/%
	cp $< $@

demo:
	@tools/deps build
	@$(MAKE) --no-print-directory $(EVVM)
	$(EVVM) run

# Build and run the tests of one build ($(B), $(CC), $(SAN)).
test: all
	@tools/run-tests $(B)

# Everything CI runs: the fuzzers for a bounded time, then the tests built
# with gcc, with gcc and ASan+UBSan (leaks fail), and with clang. All three
# builds run even if one fails; the last line sums them, and the exit
# status is non-zero if any build or test failed.
CHECK_BUILDS := build build-asan build-clang
# fuzz.mk's default (60 s for `make fuzz-run`) is not check's: 120 s unless
# FUZZ_SECONDS is given on the command line or in the environment.
CHECK_FUZZ_SECONDS = $(if $(filter command line environment,$(origin FUZZ_SECONDS)),$(FUZZ_SECONDS),120)

check:
	@tools/deps test
	@$(MAKE) --no-print-directory fuzz-run B=build-fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)
	@rm -f $(addsuffix /test-counts,$(CHECK_BUILDS))
	@$(MAKE) --no-print-directory test B=build; \
	$(MAKE) --no-print-directory test B=build-asan SAN=1; \
	$(MAKE) --no-print-directory test B=build-clang CC=clang; \
	tools/test-verdict $(CHECK_BUILDS)

clean:
	rm -rf $(B) $(BENCHES)

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

-include fuzz/fuzz.mk
-include $(shell find $(B) -name '*.d' 2>/dev/null)
