# evvm-guest: the freestanding x86-64 test guest (PVH ELF).
# Included by the top-level Makefile, which sets $(B) (the build directory)
# first. Builds with gcc or clang: make GUEST_CC=clang.

B ?= build
GUEST_CC ?= $(CC)

GUEST_ELF := $(B)/guest/evvm-guest.elf

GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -m64 \
	-ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie \
	-mno-red-zone -mgeneral-regs-only -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-omit-frame-pointer
GUEST_ASFLAGS := -m64 -g -Werror -fno-pic -fno-pie
# clang warns that -no-pie is unused with -static; only gcc gets it.
GUEST_CC_IS_CLANG := $(findstring clang,$(shell $(GUEST_CC) --version 2>/dev/null))
GUEST_LDFLAGS := -m64 -nostdlib -static $(if $(GUEST_CC_IS_CLANG),,-no-pie) \
	-fuse-ld=bfd \
	-Wl,-T,guest/guest.ld -Wl,--build-id=none -Wl,-z,noexecstack \
	-Wl,-z,max-page-size=4096

GUEST_C_SRCS := $(sort $(wildcard guest/*.c))
GUEST_S_SRCS := $(sort $(wildcard guest/*.S))
GUEST_C_OBJS := $(GUEST_C_SRCS:guest/%.c=$(B)/guest/%.o)
GUEST_S_OBJS := $(GUEST_S_SRCS:guest/%.S=$(B)/guest/%.S.o)
GUEST_OBJS := $(GUEST_C_OBJS) $(GUEST_S_OBJS)

.PHONY: guest
guest: $(GUEST_ELF)

$(GUEST_ELF): $(GUEST_OBJS) guest/guest.ld
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $(GUEST_OBJS)

# Static pattern rules: they win over any generic %.o rule of the includer.
$(GUEST_C_OBJS): $(B)/guest/%.o: guest/%.c
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<

$(GUEST_S_OBJS): $(B)/guest/%.S.o: guest/%.S
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_ASFLAGS) -MMD -MP -c -o $@ $<

-include $(GUEST_OBJS:.o=.d)
