# SPDX-License-Identifier: MIT
# vmm.mk - build rules for gmem-vmm, the example VMM that boots Linux on
# libgmem RAM, and for its test guest.  Included from the top-level
# Makefile after its own rules (it uses BUILD, ALL_CFLAGS, LIB_A, LDLIBS).
#   make                 also builds $(BUILD)/gmem-vmm and the check program
#   make vmm-initramfs   the test guest's initramfs (needs tests/vm's kernel)
#   make boot            boot Debian's kernel on gmem-vmm, on each backend,
#                        in the emulated machine (tests/vm)

VMM := $(BUILD)/gmem-vmm
VMM_SRC := $(wildcard vmm/*.c)
VMM_OBJ := $(VMM_SRC:%.c=$(BUILD)/%.o)
VMM_HDR := vmm/vmm.h vmm/ctl.h include/gmem.h
VMM_CHECK := $(BUILD)/vmm/gmem-check
VMM_INITRAMFS := $(BUILD)/vmm/initramfs.cpio

# The kernel the tests/vm harness unpacked: its bzImage and module tree
# (tests/vm/setup.sh fetches it; the cache is root's default there).
GMEM_VM_CACHE ?= /var/cache/gmem-vm
GMEM_VM_KERNEL ?= trixie-backports
VMM_KERNEL_ROOT ?= $(GMEM_VM_CACHE)/$(GMEM_VM_KERNEL)
VMM_KREL = $(firstword $(notdir $(wildcard $(VMM_KERNEL_ROOT)/lib/modules/*)))

# The guest program is static and never sanitized: it runs in the guest.
VMM_GUEST_CFLAGS := -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -static

all: $(VMM) $(VMM_CHECK)

$(BUILD)/vmm/%.o: vmm/%.c $(VMM_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(VMM): $(VMM_OBJ) $(LIB_A)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(VMM_OBJ) $(LIB_A) $(LDLIBS)

$(VMM_CHECK): vmm/guest/gmem-check.c vmm/ctl.h
	@mkdir -p $(dir $@)
	@echo "  CC      $< (static)"
	$(Q)$(CC) $(VMM_GUEST_CFLAGS) -o $@ $<

$(VMM_INITRAMFS): $(VMM_CHECK) vmm/guest/init vmm/mkinitramfs.sh
	@echo "  CPIO    $@"
	$(Q)sh vmm/mkinitramfs.sh $@ $(VMM_CHECK) \
		$(VMM_KERNEL_ROOT)/lib/modules/$(VMM_KREL)

.PHONY: vmm-initramfs boot
vmm-initramfs: $(VMM_INITRAMFS)

# Without the kernel's module tree yet, boot-test.sh fetches it (through
# tests/vm/setup.sh) and packs the initramfs itself.
boot: $(VMM) $(VMM_CHECK) $(GMEMCTL) $(if $(VMM_KREL),$(VMM_INITRAMFS))
	sh vmm/boot-test.sh $(BUILD)
