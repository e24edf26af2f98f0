# libFuzzer targets, included from the top-level Makefile.
#
#   make fuzz                       build $(B)/fuzz/fuzz_virtqueue and fuzz_vhost_msg
#   make fuzz-run [FUZZ_SECONDS=N]  fuzz for N seconds in all (default 60, split evenly
#                                   between the targets) from the seed corpora
#
# Each target is built from the library sources it exercises, compiled with
# the fuzzer's instrumentation (coverage, ASan, UBSan): libevvm.a's objects
# have none. Crash inputs land in $(B)/fuzz/; fuzz/corpus/ is only read.

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_CFLAGS	:= -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
		   -Iinclude -fno-strict-aliasing -fno-omit-frame-pointer \
		   -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

FUZZ_VQ		:= $(B)/fuzz/fuzz_virtqueue
FUZZ_VQ_SRCS	:= fuzz/fuzz_virtqueue.c lib/virtqueue.c lib/mem.c lib/log.c
FUZZ_VQ_CORPUS	:= $(B)/fuzz/corpus/virtqueue

# The vhost-user backend's message parser, with the device (blk) it serves.
FUZZ_VU		:= $(B)/fuzz/fuzz_vhost_msg
FUZZ_VU_SRCS	:= fuzz/fuzz_vhost_msg.c $(wildcard vhost/backend*.c) vhost/memtable.c \
		   vhost/inflight.c vhost/sigbus.c vhost/wire.c devices/blk.c devices/device.c \
		   lib/virtqueue.c lib/mem.c lib/log.c lib/loop.c lib/iothread.c
FUZZ_VU_CORPUS	:= $(B)/fuzz/corpus/vhost_msg

# Each target gets its share of FUZZ_SECONDS.
FUZZ_SHARE	= $$(( $(FUZZ_SECONDS) / 2 > 0 ? $(FUZZ_SECONDS) / 2 : 1 ))

.PHONY: fuzz fuzz-run
fuzz: $(FUZZ_VQ) $(FUZZ_VU)

$(FUZZ_VU): $(FUZZ_VU_SRCS) $(wildcard include/evvm/*.h vhost/*.h) fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_VU_SRCS) -pthread -luring

$(FUZZ_VQ): $(FUZZ_VQ_SRCS) $(wildcard include/evvm/*.h) fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_VQ_SRCS)

# A scratch copy of the seeds: libFuzzer adds what it finds to its first corpus directory.
fuzz-run: $(FUZZ_VQ) $(FUZZ_VU)
	rm -rf $(FUZZ_VQ_CORPUS) $(FUZZ_VU_CORPUS)
	@mkdir -p $(FUZZ_VQ_CORPUS) $(FUZZ_VU_CORPUS)
	cp fuzz/corpus/virtqueue/* $(FUZZ_VQ_CORPUS)/
	cp fuzz/corpus/vhost_msg/* $(FUZZ_VU_CORPUS)/
	$(FUZZ_VQ) -max_total_time=$(FUZZ_SHARE) -timeout=5 -print_final_stats=1 \
		-artifact_prefix=$(B)/fuzz/ $(FUZZ_VQ_CORPUS)
	$(FUZZ_VU) -max_total_time=$(FUZZ_SHARE) -timeout=5 -print_final_stats=1 \
		-artifact_prefix=$(B)/fuzz/ $(FUZZ_VU_CORPUS)
