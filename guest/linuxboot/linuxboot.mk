# evvm-linuxboot: the boot-protocol contract guest (docs/guest.md), a second
# build of the test guest that presents itself as a Linux kernel.
# Included by the top-level Makefile after guest/guest.mk, whose GUEST_CC,
# GUEST_CFLAGS and GUEST_ASFLAGS it reuses (in recipes only, so the order of
# the two includes does not matter as long as both are included).
#
#   $(B)/guest/linuxboot/vmlinux  ELF64 at 16 MiB, e_entry = startup_64,
#                                 no Xen PVH note
#   $(B)/guest/linuxboot/bzImage  real-mode setup (boot protocol 2.15) +
#                                 the same code (64-bit entry at +0x200) +
#                                 gzip -9 -n of the stripped vmlinux as payload
#
# Host tools: $(CC) builds mkbzimage; objcopy and gzip.

B ?= build
GUEST_CC ?= $(CC)
LB_OBJCOPY ?= objcopy
LB_GZIP ?= gzip

LB_DIR := $(B)/guest/linuxboot
LB_VMLINUX := $(LB_DIR)/vmlinux
LB_BZIMAGE := $(LB_DIR)/bzImage
LB_MKBZIMAGE := $(LB_DIR)/mkbzimage

# guest/ sources shared with evvm-guest: console, printf, IDT, LAPIC, MP
# table, AP start-up. Compiled again with prelude.h forced in (the image is
# at 16 MiB) and -fdata-sections (so linuxboot.ld can keep the AP stacks out
# of the .bss that head.S clears). guest/head.S, main.c, tests.c and the
# tests are not linked: linuxboot has its own entry and main.
LB_SHARED_C := printf serial lib lapic mptable smp irq exit
LB_SHARED_S := isr trampoline pagetables
LB_OWN_C := main
LB_OWN_S := head

LB_OBJS := $(LB_SHARED_C:%=$(LB_DIR)/shared/%.o) \
	$(LB_SHARED_S:%=$(LB_DIR)/shared/%.S.o) \
	$(LB_OWN_C:%=$(LB_DIR)/%.o) \
	$(LB_OWN_S:%=$(LB_DIR)/%.S.o)

LB_CPPFLAGS = -include guest/linuxboot/prelude.h -Iguest -Iguest/linuxboot
LB_CFLAGS = $(GUEST_CFLAGS) $(LB_CPPFLAGS) -fdata-sections
LB_ASFLAGS = $(GUEST_ASFLAGS) $(LB_CPPFLAGS)
LB_LDFLAGS = -m64 -nostdlib -static $(if $(GUEST_CC_IS_CLANG),,-no-pie) \
	-fuse-ld=bfd -Wl,-T,guest/linuxboot/linuxboot.ld -Wl,--build-id=none \
	-Wl,-z,noexecstack -Wl,-z,max-page-size=4096

.PHONY: linuxboot
linuxboot: $(LB_VMLINUX) $(LB_BZIMAGE)

$(LB_VMLINUX): $(LB_OBJS) guest/linuxboot/linuxboot.ld
	$(GUEST_CC) $(LB_LDFLAGS) -o $@ $(LB_OBJS)

$(LB_SHARED_C:%=$(LB_DIR)/shared/%.o): $(LB_DIR)/shared/%.o: guest/%.c
	@mkdir -p $(@D)
	$(GUEST_CC) $(LB_CFLAGS) -MMD -MP -c -o $@ $<

$(LB_SHARED_S:%=$(LB_DIR)/shared/%.S.o): $(LB_DIR)/shared/%.S.o: guest/%.S
	@mkdir -p $(@D)
	$(GUEST_CC) $(LB_ASFLAGS) -MMD -MP -c -o $@ $<

$(LB_OWN_C:%=$(LB_DIR)/%.o): $(LB_DIR)/%.o: guest/linuxboot/%.c
	@mkdir -p $(@D)
	$(GUEST_CC) $(LB_CFLAGS) -MMD -MP -c -o $@ $<

$(LB_OWN_S:%=$(LB_DIR)/%.S.o) $(LB_DIR)/setup.S.o: $(LB_DIR)/%.S.o: guest/linuxboot/%.S
	@mkdir -p $(@D)
	$(GUEST_CC) $(LB_ASFLAGS) -MMD -MP -c -o $@ $<

# The real-mode part: linked at 0, only its .setup bytes go into the file.
$(LB_DIR)/setup.elf: $(LB_DIR)/setup.S.o guest/linuxboot/setup.ld
	$(GUEST_CC) -m64 -nostdlib -static $(if $(GUEST_CC_IS_CLANG),,-no-pie) \
		-fuse-ld=bfd -Wl,-T,guest/linuxboot/setup.ld -Wl,--build-id=none \
		-Wl,-z,noexecstack -o $@ $<

$(LB_DIR)/setup.bin: $(LB_DIR)/setup.elf
	$(LB_OBJCOPY) -O binary -j .setup $< $@

# The payload, as Linux makes it: the stripped ELF, gzip -9 -n (no name,
# no time stamp: reproducible).
$(LB_DIR)/vmlinux.bin.gz: $(LB_VMLINUX)
	$(LB_OBJCOPY) -R .comment -S $< $(LB_DIR)/vmlinux.bin
	$(LB_GZIP) -9 -n -c $(LB_DIR)/vmlinux.bin > $@.tmp
	mv $@.tmp $@

$(LB_MKBZIMAGE): guest/linuxboot/mkbzimage.c guest/linuxboot/linuxboot.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Iguest/linuxboot -o $@ $<

$(LB_BZIMAGE): $(LB_MKBZIMAGE) $(LB_DIR)/setup.bin $(LB_VMLINUX) $(LB_DIR)/vmlinux.bin.gz
	$(LB_MKBZIMAGE) $(LB_DIR)/setup.bin $(LB_VMLINUX) $(LB_DIR)/vmlinux.bin.gz $@.tmp
	mv $@.tmp $@

-include $(LB_OBJS:.o=.d) $(LB_DIR)/setup.S.d
