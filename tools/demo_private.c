// SPDX-License-Identifier: MIT
/*
 * demo_private.c - "gmemctl demo --private": a guest on a VM with private
 * memory converts a range to private by hypercall, writes a secret there,
 * converts back and forth, and checks at each step what it sees; the host
 * looks for the secret in every mapping it has and must not find it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmem.h"
#include "gmemctl.h"
#include "runner.h"

#define PRIVATE_GPA (1ULL << 30)
#define SEED_SHARED 0x73686172ULL	/* the shared side's own bytes */
#define SEED_SECRET 0x73656372ULL	/* what the guest keeps private */

struct pdemo {
	struct guest g;
	struct gmem_file *shared, *private;
	struct gmem_binding *b;
	uint64_t size;
	int checks, passed;
	uint64_t conversions;
	struct gmem_file_stats mid, end;
	bool json;
};

static void check(struct pdemo *d, bool ok, const char *what)
{
	d->checks++;
	d->passed += ok;
	if (!d->json)
		printf("  [%s] %s\n", ok ? " ok " : "FAIL", what);
}

/* A VMM that converts back soon keeps both sides. */
static int convert_keeping(struct gmem_vm *vm,
			   const struct gmem_conversion *req, void *opaque)
{
	struct pdemo *d = opaque;

	d->conversions++;
	return gmem_convert(vm, req->gpa, req->length, req->to,
			    GMEM_CONVERT_KEEP);
}

static int memcmd(struct pdemo *d, uint64_t op, uint64_t a, uint64_t b,
		  uint64_t c, uint64_t e, uint64_t *res)
{
	return guest_memcmd(&d->g, op, a, b, c, e, res);
}

/* Does the guest see pattern seed (0: zeros) over [gpa, gpa + len)? */
static bool guest_sees(struct pdemo *d, uint64_t gpa, uint64_t len,
		       uint64_t seed, uint64_t base)
{
	uint64_t res = 0;
	int ret = seed ? memcmd(d, MEMCMD_CHECK_PAGES, gpa, len, seed, base,
				&res)
		       : memcmd(d, MEMCMD_CHECK_ZERO_PAGES, gpa, len, base, 0,
				&res);

	return ret == 0 && res == GUEST_CHECK_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Is any word of the guest's secret anywhere in a mapping the host has? */
static bool host_finds_secret(struct pdemo *d)
{
	const uint8_t *maps[2] = { gmem_file_host_addr(d->shared),
				   d->g.ram_host };
	uint64_t sizes[2] = { d->size, gmem_file_size(d->g.ram) };
	uint64_t pages = d->size / 4096, *secret;
	bool found = false;

	secret = calloc(pages, sizeof(*secret));
	if (!secret)
		return true;	/* cannot tell: do not claim it is absent */
	for (uint64_t k = 0; k < pages; k++)
		secret[k] = guest_pattern(SEED_SECRET, k * 512 +
					  guest_page_word(k * 4096));
	qsort(secret, pages, sizeof(*secret), cmp_u64);
	for (int m = 0; m < 2 && !found; m++)
		for (uint64_t i = 0; i < sizes[m] / 8 && !found; i++)
			found = bsearch(&((const uint64_t *)maps[m])[i], secret,
					pages, sizeof(*secret), cmp_u64);
	free(secret);
	return found;
}

static int setup(struct pdemo *d)
{
	struct guest_config cfg = { .backend = GMEM_BACKEND_MEMFD,
				    .ram_size = 16ULL << 20,
				    .vm_type = GMEM_VM_TYPE_SW_PROTECTED };
	struct gmem_file_args fa = { .size = d->size };
	struct gmem_bind_args ba = { .length = d->size, .gpa = PRIVATE_GPA,
				     .slot = GMEM_SLOT_ANY };

	if (guest_create(&d->g, &cfg) < 0)
		return -1;
	fa.backend = GMEM_BACKEND_MEMFD;
	fa.name = "demo-shared";
	if (gmem_file_create(&fa, &d->shared) < 0)
		goto lib;
	fa.backend = GMEM_BACKEND_GUEST_MEMFD;
	fa.flags = GMEM_FILE_PRIVATE;
	fa.vm = d->g.vm;
	fa.name = "demo-private";
	if (gmem_file_create(&fa, &d->private) < 0)
		goto lib;
	ba.private_file = d->private;
	if (gmem_bind(d->g.vm, d->shared, &ba, &d->b) < 0 ||
	    gmem_vm_enable_conversion_exits(d->g.vm) < 0 ||
	    gmem_vm_set_conversion_handler(d->g.vm, convert_keeping, d) < 0)
		goto lib;
	d->g.handle_conversions = true;
	guest_host_fill_pages(gmem_file_host_addr(d->shared), d->size,
			      SEED_SHARED, 0);
	return guest_memcmd_start(&d->g);
lib:
	snprintf(d->g.error, sizeof(d->g.error), "%s", gmem_last_error());
	return -1;
}

static int run(struct pdemo *d)
{
	uint64_t q = d->size / 4, res;

	if (setup(d) < 0)
		return -1;
	check(d, guest_sees(d, PRIVATE_GPA, d->size, SEED_SHARED, 0),
	      "guest first sees the shared side's bytes");
	if (memcmd(d, MEMCMD_MAP_GPA_RANGE, PRIVATE_GPA, d->size, 1, 0,
		   &res) < 0)
		return -1;
	check(d, res == 0, "guest converts the range to private (hypercall)");
	check(d, guest_sees(d, PRIVATE_GPA, d->size, 0, 0),
	      "private memory starts out zeroed");
	if (memcmd(d, MEMCMD_FILL_PAGES, PRIVATE_GPA, d->size, SEED_SECRET,
		   0, NULL) < 0)
		return -1;
	check(d, !host_finds_secret(d),
	      "the host finds the guest's secret in none of its mappings");
	gmem_file_stats(d->private, &d->mid);
	if (memcmd(d, MEMCMD_MAP_GPA_RANGE, PRIVATE_GPA, d->size, 0, 0,
		   &res) < 0)
		return -1;
	check(d, res == 0 && guest_sees(d, PRIVATE_GPA, d->size, SEED_SHARED,
					0),
	      "converted back to shared, the guest sees the shared bytes");
	if (memcmd(d, MEMCMD_MAP_GPA_RANGE, PRIVATE_GPA, d->size, 1, 0,
		   &res) < 0)
		return -1;
	check(d, res == 0 && guest_sees(d, PRIVATE_GPA, d->size, SEED_SECRET,
					0),
	      "private again, the secret survived the round trip");
	if (gmem_discard(d->private, q, q) < 0)
		goto lib;
	check(d, guest_sees(d, PRIVATE_GPA + q, q, 0, q) &&
		 guest_sees(d, PRIVATE_GPA, q, SEED_SECRET, 0) &&
		 guest_sees(d, PRIVATE_GPA + 2 * q, 2 * q, SEED_SECRET, 2 * q),
	      "a discard of the private side zeroes only that part");
	/* The VMM makes it shared for good: the private side is freed. */
	if (gmem_convert(d->g.vm, PRIVATE_GPA, d->size, GMEM_MEMORY_SHARED,
			 0) < 0)
		goto lib;
	gmem_file_stats(d->private, &d->end);
	check(d, d->end.private_bytes == 0 &&
		 d->mid.private_bytes == d->size,
	      "accounting: private bytes held, then freed by the conversion");
	check(d, guest_sees(d, PRIVATE_GPA, d->size, SEED_SHARED, 0),
	      "the guest is back on its shared bytes");
	return guest_memcmd_stop(&d->g);
lib:
	snprintf(d->g.error, sizeof(d->g.error), "%s", gmem_last_error());
	return -1;
}

int demo_private(uint64_t size, bool json)
{
	struct pdemo *d = calloc(1, sizeof(*d));
	struct gmem_vm_caps c;
	int ret, ok;

	if (!d)
		return 1;
	if (gmem_probe_vm_type(GMEM_VM_TYPE_SW_PROTECTED, &c) < 0 ||
	    !(c.memory_attributes & GMEM_MEMORY_ATTRIBUTE_PRIVATE)) {
		fprintf(stderr, "gmemctl demo --private: this kernel has no VM "
			"type with private memory (gmemctl probe shows the "
			"types); `make demo-private` runs this demo in an "
			"emulated machine that has it (tests/vm)\n");
		free(d);
		return 77;
	}
	d->size = size;
	d->json = json;
	if (!json)
		printf("gmem demo --private: a %s guest, %llu MiB at "
		       "guest-physical 0x%llx with a shared (memfd) and a "
		       "private (guest_memfd) side\nchecks\n",
		       gmem_vm_type_name(GMEM_VM_TYPE_SW_PROTECTED),
		       (unsigned long long)(size >> 20),
		       (unsigned long long)PRIVATE_GPA);
	ret = run(d);
	ok = ret == 0 && d->passed == d->checks;
	if (json) {
		printf("{\"private\": true, \"size\": %llu, \"checks\": %d, "
		       "\"passed\": %d, \"conversions\": %llu, "
		       "\"private_bytes_held\": %llu, \"private_bytes_after\": "
		       "%llu, \"error\": ", (unsigned long long)size, d->checks,
		       d->passed, (unsigned long long)d->conversions,
		       (unsigned long long)d->mid.private_bytes,
		       (unsigned long long)d->end.private_bytes);
		json_string(stdout, ret < 0 ? d->g.error : "");
		printf(", \"pass\": %s}\n", ok ? "true" : "false");
	} else {
		if (ret < 0)
			printf("  [FAIL] the demo stopped early: %s\n",
			       d->g.error);
		printf("conversions the guest asked for: %llu (by hypercall, "
		       "handled by libgmem)\nprivate side: %llu KiB held while "
		       "private, %llu KiB after the VMM made it shared\n",
		       (unsigned long long)d->conversions,
		       (unsigned long long)(d->mid.private_bytes >> 10),
		       (unsigned long long)(d->end.private_bytes >> 10));
		printf("result: %s (%d of %d checks held)\n",
		       ok ? "PASS" : "FAIL", d->passed, d->checks);
	}
	if (d->b)
		gmem_unbind(d->b);
	if (d->shared)
		gmem_file_close(d->shared);
	if (d->private)
		gmem_file_close(d->private);
	guest_destroy(&d->g);
	free(d);
	return ok ? 0 : 1;
}
