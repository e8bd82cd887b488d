# SPDX-License-Identifier: MIT
# devices.mk - device processes that reach guest memory through libgmem's
# memory tables, one folder each under devices/; included by the Makefile.

DEVICE_NAMES := csum
DEVICE_BINS := $(DEVICE_NAMES:%=$(BUILD)/devices/%dev)

all: $(DEVICE_BINS)

# The library's memory-table files share the wire format's header.
$(BUILD)/src/devproc.o $(BUILD)/src/memtable.o $(BUILD)/src/memtable_proto.o: \
	src/memtable_proto.h

$(BUILD)/devices/%.o: devices/%.c include/gmem.h $(wildcard devices/*/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -I$(dir $<) -c $< -o $@

$(BUILD)/devices/csumdev: $(BUILD)/devices/csum/csumdev.o $(LIB_A)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

# The guest side of the checksum device shares its ring layout; the test
# starts the device binary.
$(BUILD)/guest/progs/csum.o: devices/csum/csum_ring.h
$(BUILD)/tests/test_devproc: $(DEVICE_BINS)
$(BUILD)/tests/test_devproc.o: devices/csum/csum_ring.h src/memtable_proto.h
