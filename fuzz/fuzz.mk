# libFuzzer targets, included from the top-level Makefile.
#
#   make fuzz                       build $(B)/fuzz/fuzz_<name> for each target
#   make fuzz-run [FUZZ_SECONDS=N]  fuzz N seconds in all (default 60, shared
#                                   equally by the targets) from the seed corpora
#
# Each target is built from the library sources it exercises, compiled with
# the fuzzer's instrumentation (coverage, ASan, UBSan): libevvm.a's objects
# have none. Crash inputs land in $(B)/fuzz/; fuzz/corpus/ is only read.
# libFuzzer's progress goes to $(B)/fuzz/corpus/<name>.log (see tools/fuzz-run).

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_CFLAGS	:= -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
		   -Iinclude -fno-strict-aliasing -fno-omit-frame-pointer \
		   -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

FUZZ_NAMES	:= virtqueue blk
FUZZ_virtqueue_SRCS := fuzz/fuzz_virtqueue.c lib/virtqueue.c lib/mem.c lib/log.c
FUZZ_blk_SRCS	:= fuzz/fuzz_blk.c tests/lib/fakeguest.c devices/blk.c lib/virtqueue.c lib/mem.c \
		   lib/log.c lib/loop.c
FUZZ_blk_LIBS	:= -luring -pthread

FUZZ_BINS	:= $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_NAMES))
FUZZ_EACH	:= $(shell expr $(FUZZ_SECONDS) / $(words $(FUZZ_NAMES)))

.PHONY: fuzz fuzz-run
fuzz: $(FUZZ_BINS)

# The sources' headers are dependencies too (no .d files for these builds).
.SECONDEXPANSION:
$(B)/fuzz/fuzz_%: $$(FUZZ_$$*_SRCS) $(wildcard include/evvm/*.h devices/*.h tests/lib/*.h) fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/lib -o $@ $(FUZZ_$*_SRCS) $(FUZZ_$*_LIBS)

# One after the other: each fuzzer gets its share of FUZZ_SECONDS.
fuzz-run: $(FUZZ_BINS)
	@set -e; for n in $(FUZZ_NAMES); do \
		tools/fuzz-run $(B)/fuzz/fuzz_$$n fuzz/corpus/$$n $(B)/fuzz/corpus/$$n $(FUZZ_EACH); \
	done
