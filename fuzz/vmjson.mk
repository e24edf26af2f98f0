# The API's JSON readers (fuzz/fuzz_vmjson.c over cli/vmjson.c and
# cli/vmdesc.c), included from the top-level Makefile after fuzz.mk, whose
# compiler and flags it uses: `make fuzz` builds it and `make fuzz-run` runs
# it too, for FUZZ_VJ_SECONDS (default a quarter of FUZZ_SECONDS).

FUZZ_VJ		:= $(B)/fuzz/fuzz_vmjson
FUZZ_VJ_SRCS	:= fuzz/fuzz_vmjson.c cli/vmjson.c cli/vmdesc.c cli/parse.c lib/log.c
FUZZ_VJ_CORPUS	:= $(B)/fuzz/corpus/vmjson
FUZZ_VJ_SECONDS	?= $(shell expr $(or $(FUZZ_SECONDS),60) / 4 + 1)

.PHONY: fuzz-run-vmjson
fuzz: $(FUZZ_VJ)
fuzz-run: fuzz-run-vmjson

$(FUZZ_VJ): $(FUZZ_VJ_SRCS) $(wildcard cli/*.h include/evvm/*.h) fuzz/vmjson.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_VJ_SRCS) -ljansson

# A scratch copy of the seeds, as for the other targets.
fuzz-run-vmjson: $(FUZZ_VJ)
	rm -rf $(FUZZ_VJ_CORPUS)
	@mkdir -p $(FUZZ_VJ_CORPUS)
	cp fuzz/corpus/vmjson/* $(FUZZ_VJ_CORPUS)/
	$(FUZZ_VJ) -max_total_time=$(FUZZ_VJ_SECONDS) -timeout=5 -print_final_stats=1 \
		-artifact_prefix=$(B)/fuzz/ $(FUZZ_VJ_CORPUS)
