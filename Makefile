# SPDX-License-Identifier: MIT
# gmem: build the library, gmemctl, the guest programs and the tests.
#   make                 build everything into $(BUILD)
#   make check           build and run every test
#   make check SANITIZE=1  the same with ASan/UBSan, in build-asan/
#   make check-man       check the manual pages in docs/man alone
#   make install         libgmem (shared and static), gmem.h, gmem.pc, the
#                        man pages, gmemctl and gmem-vmm; PREFIX, LIBDIR,
#                        BINDIR, INCLUDEDIR, MANDIR, BASHCOMPDIR, DOCDIR and
#                        DESTDIR as usual
#   make uninstall       take them out again

SANITIZE ?=
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD ?= build
SAN_FLAGS :=
endif

CC ?= cc
# V=1 shows every command.
ifeq ($(V),1)
Q :=
else
Q := @
endif
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-missing-field-initializers
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(SAN_FLAGS) -Iinclude -D_GNU_SOURCE
LDLIBS := -lpthread

# The version lives in include/gmem.h alone; the library's names follow it.
version_part = $(shell sed -n 's/^\#define GMEM_VERSION_$(1) *\([0-9]*\)$$/\1/p' include/gmem.h)
VERSION := $(call version_part,MAJOR).$(call version_part,MINOR).$(call version_part,PATCH)
SO_MAJOR := $(call version_part,MAJOR)
SO_VERSION := $(VERSION)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DOCDIR ?= $(PREFIX)/share/doc/gmem

LIB_SRC := $(wildcard src/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A := $(BUILD)/libgmem.a
# The same objects with their insides visible, for the tests that reach in
# (and wrap the library's syscalls): never installed.
LIB_INTERNAL_A := $(BUILD)/libgmem-internal.a
OBJCOPY ?= objcopy
LIB_SO := $(BUILD)/libgmem.so.$(SO_VERSION)

# Guest programs: freestanding 64-bit code linked at a fixed address.
GUEST_CFLAGS := -std=gnu11 -O2 -g0 -Wall -Wextra -Werror -ffreestanding -fno-pic \
	-fno-pie -fno-stack-protector -mno-red-zone -mgeneral-regs-only \
	-fno-asynchronous-unwind-tables -fno-builtin -fcf-protection=none \
	-mcmodel=small -Iguest
GUEST_LDFLAGS := -nostdlib -static -Wl,-T,guest/guest.ld \
	-Wl,--build-id=none -Wl,-z,noexecstack
GUEST_PROGS := $(basename $(notdir $(wildcard guest/progs/*.c)))
GUEST_BINS := $(GUEST_PROGS:%=$(BUILD)/guest/%.bin)
GUEST_LIB_OBJ := $(BUILD)/guest/entry.o $(BUILD)/guest/guest_lib.o

RUNNER_OBJ := $(BUILD)/runner/runner.o $(BUILD)/guest/images.o

TOOL_SRC := $(wildcard tools/*.c)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
GMEMCTL := $(BUILD)/gmemctl

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_HELPER_OBJ := $(BUILD)/tests/harness.o $(BUILD)/tests/tool.o

.PHONY: all lib check clean install uninstall
# Keep objects and ELF files make would otherwise treat as intermediate.
.SECONDARY:
all: lib $(GMEMCTL) $(TEST_BINS)
lib: $(LIB_A) $(BUILD)/libgmem.so

$(BUILD)/src/%.o: src/%.c include/gmem.h $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

# One object whose hidden symbols are made local: a static link sees the
# API and nothing of the insides, as a link with libgmem.so does.
$(LIB_A): $(LIB_OBJ)
	$(Q)rm -f $@ $(BUILD)/libgmem-all.o
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -fno-lto -r -nostdlib -o $(BUILD)/libgmem-all.o $^
	$(Q)$(OBJCOPY) --localize-hidden $(BUILD)/libgmem-all.o
	$(Q)$(AR) rcs $@ $(BUILD)/libgmem-all.o

$(LIB_INTERNAL_A): $(LIB_OBJ)
	$(Q)rm -f $@
	@echo "  LD      $@"
	$(Q)$(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJ) src/libgmem.map
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libgmem.so.$(SO_MAJOR) \
		-Wl,--version-script=src/libgmem.map -o $@ $(LIB_OBJ) $(LDLIBS)

$(BUILD)/libgmem.so: $(LIB_SO)
	$(Q)ln -sf libgmem.so.$(SO_VERSION) $(BUILD)/libgmem.so.$(SO_MAJOR)
	$(Q)ln -sf libgmem.so.$(SO_VERSION) $@

# ---- install ----
MAN_PAGES := $(wildcard docs/man/*.[0-9])

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libgmem.so.$(SO_VERSION) $(DESTDIR)$(LIBDIR)/libgmem.so.$(SO_MAJOR)
	ln -sf libgmem.so.$(SO_VERSION) $(DESTDIR)$(LIBDIR)/libgmem.so
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 0644 include/gmem.h $(DESTDIR)$(INCLUDEDIR)/
	# gmem.pc names the directories of this install, so it is made here.
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		gmem.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/gmem.pc
	install -m 0755 $(GMEMCTL) $(DESTDIR)$(BINDIR)/
	if [ -x "$(VMM)" ]; then install -m 0755 $(VMM) $(DESTDIR)$(BINDIR)/; fi
	for p in $(MAN_PAGES); do \
		s=$${p##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 0644 $$p $(DESTDIR)$(MANDIR)/man$$s/; \
	done
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(DOCDIR)
	install -m 0644 completions/gmemctl.bash $(DESTDIR)$(BASHCOMPDIR)/gmemctl
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libgmem.so.$(SO_VERSION) \
		$(DESTDIR)$(LIBDIR)/libgmem.so.$(SO_MAJOR) \
		$(DESTDIR)$(LIBDIR)/libgmem.so $(DESTDIR)$(LIBDIR)/libgmem.a \
		$(DESTDIR)$(INCLUDEDIR)/gmem.h $(DESTDIR)$(PKGCONFIGDIR)/gmem.pc \
		$(DESTDIR)$(BINDIR)/gmemctl $(DESTDIR)$(BINDIR)/gmem-vmm \
		$(DESTDIR)$(BASHCOMPDIR)/gmemctl
	rm -f $(DESTDIR)$(DOCDIR)/README.md $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(wildcard docs/*.md)))
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	for p in $(MAN_PAGES); do \
		s=$${p##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${p##*/}; \
	done

# ---- guest programs ----
$(BUILD)/guest/%.o: guest/%.S
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/guest/guest_lib.o: guest/guest_lib.c guest/guest_lib.h guest/ucall.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/guest/progs/%.o: guest/progs/%.c guest/guest_lib.h guest/ucall.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/guest/%.elf: $(BUILD)/guest/progs/%.o $(GUEST_LIB_OBJ) guest/guest.ld
	@echo "  LD      $@"
	$(Q)$(CC) $(GUEST_LDFLAGS) -o $@ $(GUEST_LIB_OBJ) $<

$(BUILD)/guest/%.bin: $(BUILD)/guest/%.elf
	$(Q)objcopy -O binary $< $@

# The images are embedded with .incbin; the list is generated from progs/.
$(BUILD)/guest/images.S: $(GUEST_BINS) guest/mkimages.sh
	$(Q)sh guest/mkimages.sh $(BUILD)/guest $(GUEST_PROGS) > $@

$(BUILD)/guest/images.o: $(BUILD)/guest/images.S
	@echo "  CC      $<"
	$(Q)$(CC) -c $< -o $@

# ---- the guest runner (host side) ----
$(BUILD)/runner/%.o: runner/%.c runner/runner.h guest/ucall.h include/gmem.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Irunner -Iguest -c $< -o $@

# ---- gmemctl ----
$(BUILD)/tools/%.o: tools/%.c tools/gmemctl.h tools/bench.h runner/runner.h include/gmem.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Irunner -Iguest -Itools -c $< -o $@

$(GMEMCTL): $(TOOL_OBJ) $(RUNNER_OBJ) $(LIB_A)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(TOOL_OBJ) $(RUNNER_OBJ) $(LIB_A) $(LDLIBS)

# ---- tests ----
$(BUILD)/tests/%.o: tests/%.c tests/harness.h runner/runner.h include/gmem.h \
		$(wildcard src/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Irunner -Iguest -Itests -Isrc -c $< -o $@

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_HELPER_OBJ) $(RUNNER_OBJ) $(LIB_INTERNAL_A)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(TEST_HELPER_OBJ) $(RUNNER_OBJ) $(LIB_INTERNAL_A) $(LDLIBS)

# test_faults makes the library's calls fail in turn, by the linker's
# --wrap: the library carries no test hooks.
FAULT_WRAPS := ioctl fallocate mmap memfd_create ftruncate madvise calloc \
	realloc fcntl syscall
$(BUILD)/tests/test_faults: $(BUILD)/tests/test_faults.o $(TEST_HELPER_OBJ) $(RUNNER_OBJ) $(LIB_INTERNAL_A)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(TEST_HELPER_OBJ) $(RUNNER_OBJ) $(LIB_INTERNAL_A) \
		$(foreach w,$(FAULT_WRAPS),-Wl,--wrap=$(w)) $(LDLIBS)

# test_private splits one conversion by hand (--wrap=ioctl).
$(BUILD)/tests/test_private: $(BUILD)/tests/test_private.o $(TEST_HELPER_OBJ) $(RUNNER_OBJ) $(LIB_INTERNAL_A)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(TEST_HELPER_OBJ) $(RUNNER_OBJ) $(LIB_INTERNAL_A) \
		-Wl,--wrap=ioctl $(LDLIBS)

check: all
	sh tests/run-tests.sh $(BUILD)

# The manual pages against the built library, gmem.h and the tools' options.
.PHONY: check-man
check-man: lib
	sh tests/check-man.sh $(BUILD)

clean:
	rm -rf build build-asan

# The main job: a guest on gmem memory, with a report.  Without /dev/kvm
# here, it runs in an emulated machine that has KVM (tests/vm).
# The private-memory demo runs here where the kernel has private memory
# (gmemctl exits 77 where it has not), else in the emulated machine.
.PHONY: demo-private
demo-private: $(GMEMCTL)
	@$(GMEMCTL) demo --private; rc=$$?; \
	if [ $$rc -eq 77 ]; then \
		echo "== no private memory here; running the demo in an emulated machine that has it (tests/vm)"; \
		tests/vm/run-in-vm.sh $(BUILD) -- ./gmemctl demo --private; \
	else exit $$rc; fi

.PHONY: demo
demo: $(GMEMCTL)
	@if [ -e /dev/kvm ]; then \
		$(GMEMCTL) demo; \
	else \
		echo "== /dev/kvm is missing here; running the demo in an emulated machine with KVM (tests/vm)"; \
		tests/vm/run-in-vm.sh $(BUILD) -- ./gmemctl demo; \
	fi

# gmem-vmm, the example VMM that boots Linux on libgmem RAM.
include vmm/vmm.mk
include devices/devices.mk tests/fuzz/fuzz.mk

# The bench's figures: tables in $(BUILD)/bench.md and PNGs in docs/, from
# one run (as root it grows the hugetlb pool it needs, and shrinks it
# after).  KVM's fault counts come from the emulated machine, whose KVM
# counts them and has KVM_PRE_FAULT_MEMORY, with a 1 GiB page reserved at
# its boot for the hugetlb 1G rows (BENCH_VM=0 skips that run).
# gnuplot-nox comes from Debian if missing.
BENCH_VM ?= 1
.PHONY: bench-plots
bench-plots: $(GMEMCTL)
	@command -v gnuplot >/dev/null || \
		{ apt-get update && apt-get install -y gnuplot-nox; }
	$(GMEMCTL) bench --grow-pool --csv-file $(BUILD)/bench.csv $(BENCH_ARGS) \
		> $(BUILD)/bench.md
	$(GMEMCTL) bench --plot $(BUILD)/bench.csv --plot-dir docs | gnuplot
	@if [ "$(BENCH_VM)" = 1 ]; then \
		GMEM_VM_MEM=6G GMEM_VM_APPEND="hugepagesz=1G hugepages=1" \
		tests/vm/run-in-vm.sh $(BUILD) -- ./gmemctl bench --only faults \
			--grow-pool --csv > $(BUILD)/bench-vm.csv && \
		$(GMEMCTL) bench --plot $(BUILD)/bench-vm.csv --plot-dir docs | \
			gnuplot; fi
