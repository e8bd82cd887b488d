# SPDX-License-Identifier: MIT
# fuzz.mk - the memory-table parsers under libFuzzer (clang's
# -fsanitize=fuzzer; Debian: libclang-rt-14-dev).  Included by the Makefile.
#   make fuzz                   build, write the seeds, fuzz for FUZZ_TIME s
#   make fuzz FUZZ_TIME=3600    longer
#   make fuzz FUZZ_RUNS=200000  a bounded number of inputs instead (CI)
# The corpus grows in $(BUILD)/fuzz/corpus; crashes land in $(BUILD)/fuzz/.

FUZZ_CC ?= clang
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_TIME ?= 60
FUZZ_RUNS ?=
FUZZ_FLAGS := -std=gnu11 $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Iinclude -Isrc -D_GNU_SOURCE
# Only what the parsers use, so the fuzzer sees their code alone.
FUZZ_SRC := tests/fuzz/fuzz_memtable.c src/memtable.c src/memtable_proto.c \
	src/extents.c src/error.c
FUZZ_LIMIT := $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS),-max_total_time=$(FUZZ_TIME))

.PHONY: fuzz
$(FUZZ_BUILD)/fuzz_memtable: $(FUZZ_SRC) src/memtable_proto.h src/internal.h \
		include/gmem.h
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(FUZZ_SRC) -lpthread

$(FUZZ_BUILD)/mkseeds: tests/fuzz/mkseeds.c src/memtable_proto.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Isrc -o $@ $<

fuzz: $(FUZZ_BUILD)/fuzz_memtable $(FUZZ_BUILD)/mkseeds
	$(Q)rm -rf $(FUZZ_BUILD)/seeds
	$(Q)mkdir -p $(FUZZ_BUILD)/seeds $(FUZZ_BUILD)/corpus
	$(Q)$(FUZZ_BUILD)/mkseeds $(FUZZ_BUILD)/seeds
	$(FUZZ_BUILD)/fuzz_memtable $(FUZZ_LIMIT) -max_len=8192 \
		-rss_limit_mb=2048 -artifact_prefix=$(FUZZ_BUILD)/ \
		$(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/seeds
