# libFuzzer targets, included from the top-level Makefile.
#
#   make fuzz                       build every $(B)/fuzz/fuzz_<name>
#   make fuzz-run [FUZZ_SECONDS=N]  fuzz for N seconds in all (default 60), split evenly
#                                   across the targets, each from its seed corpus
#
# Each target is built from the library sources it exercises, compiled with
# the fuzzer's instrumentation (coverage, ASan, UBSan): libevvm.a's objects
# have none. Crash inputs land in $(B)/fuzz/; fuzz/corpus/ is only read.
# libFuzzer's progress goes to $(B)/fuzz/corpus/<name>.log (see tools/fuzz-run).
#
# Adding a target: fuzz/fuzz_<name>.c, seeds in fuzz/corpus/<name>/, and
# FUZZ_SRCS_<name> (and FUZZ_LIBS_<name> if it needs libraries) below.

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_CFLAGS	:= -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
		   -Iinclude -fno-strict-aliasing -fno-omit-frame-pointer \
		   -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

FUZZ_BOOT_SRCS	:= vmm/boot/elf.c vmm/boot/bzimage.c vmm/boot/decompress.c lib/mem.c lib/log.c
FUZZ_BOOT_LIBS	:= -lz -llzma -llz4 -lzstd

FUZZ_SRCS_virtqueue	:= fuzz/fuzz_virtqueue.c lib/virtqueue.c lib/mem.c lib/log.c
FUZZ_SRCS_elf		:= fuzz/fuzz_elf.c $(FUZZ_BOOT_SRCS)
FUZZ_LIBS_elf		:= $(FUZZ_BOOT_LIBS)
FUZZ_SRCS_bzimage	:= fuzz/fuzz_bzimage.c $(FUZZ_BOOT_SRCS)
FUZZ_LIBS_bzimage	:= $(FUZZ_BOOT_LIBS)
FUZZ_SRCS_decompress	:= fuzz/fuzz_decompress.c $(FUZZ_BOOT_SRCS)
FUZZ_LIBS_decompress	:= $(FUZZ_BOOT_LIBS)
FUZZ_SRCS_blk		:= fuzz/fuzz_blk.c tests/lib/fakeguest.c devices/blk.c devices/ratelimit.c lib/tbucket.c \
			   lib/virtqueue.c lib/mem.c \
			   lib/log.c lib/loop.c
FUZZ_LIBS_blk		:= -luring -pthread
# The vhost-user backend's message parser, with the device (blk) it serves.
FUZZ_SRCS_vhost_msg	:= fuzz/fuzz_vhost_msg.c $(wildcard vhost/backend*.c) vhost/memtable.c \
			   vhost/inflight.c vhost/sigbus.c vhost/wire.c devices/blk.c devices/ratelimit.c \
			   lib/tbucket.c devices/device.c \
			   lib/virtqueue.c lib/mem.c lib/log.c lib/loop.c lib/iothread.c \
			   lib/confine.c lib/privs.c lib/seccomp.c lib/seccomp_lists.c
FUZZ_LIBS_vhost_msg	:= -luring -lseccomp -pthread
FUZZ_SRCS_pci_config	:= fuzz/fuzz_pci_config.c vmm/pci.c vmm/iobus.c lib/log.c
# The API's JSON readers (Firecracker's bodies and config file) into the VM description.
FUZZ_SRCS_vmjson	:= fuzz/fuzz_vmjson.c cli/vmjson.c vm/vmdesc.c cli/parse.c lib/log.c
FUZZ_LIBS_vmjson	:= -ljansson
# The snapshot state file loader (header, checksum, sections).
FUZZ_SRCS_snapshot	:= fuzz/fuzz_snapshot.c vmm/snapshot_file.c lib/log.c
FUZZ_LIBS_snapshot	:= -lz
# A device's saved bytes in a snapshot (devices/persist_check.c), before any device is built.
FUZZ_SRCS_persist	:= fuzz/fuzz_persist.c devices/persist_check.c devices/ratelimit.c lib/tbucket.c \
			   lib/log.c
# A saved vhost-user frontend's checks (a device section of a snapshot).
FUZZ_SRCS_vhost_state	:= fuzz/fuzz_vhost_state.c vhost/frontend_state.c lib/log.c

# Every fuzz/fuzz_<name>.c is a target.
FUZZ_NAMES	:= $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BINS	:= $(FUZZ_NAMES:%=$(B)/fuzz/fuzz_%)
# FUZZ_SECONDS is the total: each target gets its share (at least 1 s).
FUZZ_EACH	:= $(shell n=$$(( $(FUZZ_SECONDS) / $(words $(FUZZ_NAMES)) )); echo $$(( n > 0 ? n : 1 )))

.PHONY: fuzz fuzz-run
fuzz: $(FUZZ_BINS)

define FUZZ_TARGET
$(B)/fuzz/fuzz_$(1): $$(FUZZ_SRCS_$(1)) $$(wildcard include/evvm/*.h vmm/*.h vmm/boot/*.h devices/*.h vhost/*.h vm/*.h cli/*.h tests/lib/*.h) fuzz/fuzz.mk
	@mkdir -p $$(dir $$@)
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) -Itests/lib -o $$@ $$(FUZZ_SRCS_$(1)) $$(FUZZ_LIBS_$(1))
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call FUZZ_TARGET,$(n))))

# One after the other, each from a scratch copy of its seeds (libFuzzer adds
# what it finds to its first corpus directory).
fuzz-run: $(FUZZ_BINS)
	@set -e; for n in $(FUZZ_NAMES); do \
		tools/fuzz-run $(B)/fuzz/fuzz_$$n fuzz/corpus/$$n $(B)/fuzz/corpus/$$n $(FUZZ_EACH); \
	done
