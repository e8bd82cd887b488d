// SPDX-License-Identifier: MIT
/*
 * exits.c - conversions a guest asks for: a memory-fault exit (it touched
 * the other kind of memory) or a KVM_HC_MAP_GPA_RANGE hypercall, decoded
 * from struct kvm_run and handed to the VMM's handler or to gmem_convert.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

GMEM_API int gmem_vm_set_conversion_handler(struct gmem_vm *vm,
					    gmem_conversion_fn fn,
					    void *opaque)
{
	gmem_error_clear();
	if (!vm)
		return gmem_fail(EINVAL, "conversion handler: vm is NULL");
	pthread_mutex_lock(&vm->lock);
	vm->convert_fn = fn;
	vm->convert_opaque = opaque;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

GMEM_API int gmem_vm_enable_conversion_exits(struct gmem_vm *vm)
{
	struct kvm_enable_cap cap = { .cap = GMEM_KVM_CAP_EXIT_HYPERCALL };
	uint64_t valid;
	int ret;

	gmem_error_clear();
	if (!vm)
		return gmem_fail(EINVAL, "conversion exits: vm is NULL");
	ret = gmem_vm_check_cap(vm, GMEM_KVM_CAP_EXIT_HYPERCALL,
				"KVM_CAP_EXIT_HYPERCALL", &valid);
	if (ret < 0)
		return ret;
	if (!(valid & (1ULL << GMEM_KVM_HC_MAP_GPA_RANGE)))
		return gmem_fail(EOPNOTSUPP, "conversion exits: this KVM cannot "
				 "pass KVM_HC_MAP_GPA_RANGE to userspace "
				 "(KVM_CAP_EXIT_HYPERCALL is 0x%llx)",
				 (unsigned long long)valid);
	cap.args[0] = 1ULL << GMEM_KVM_HC_MAP_GPA_RANGE;
	if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0)
		return gmem_fail(errno, "KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL): "
				 "%s", strerror(errno));
	return 0;
}

static int dispatch(struct gmem_vm *vm, const struct gmem_conversion *req)
{
	gmem_conversion_fn fn;
	void *opaque;

	pthread_mutex_lock(&vm->lock);
	fn = vm->convert_fn;
	opaque = vm->convert_opaque;
	pthread_mutex_unlock(&vm->lock);
	if (fn)
		return fn(vm, req, opaque);
	return gmem_convert(vm, req->gpa, req->length, req->to, 0);
}

/* The byte size of a MAP_GPA_RANGE request, or 0 if it makes no sense. */
static uint64_t map_range_bytes(uint64_t pages, uint64_t attrs)
{
	uint64_t level = attrs & GMEM_KVM_MAP_GPA_RANGE_PAGE_SZ_MASK;
	unsigned int shift;

	if (level > 2)
		return 0;
	shift = 12 + 9 * (unsigned int)level;
	if (!pages || pages > (UINT64_MAX >> shift))
		return 0;
	return pages << shift;
}

GMEM_API int gmem_vcpu_handle_exit(struct gmem_vm *vm, void *run, int result)
{
	uint8_t *r = run;
	struct gmem_conversion req = { 0 };
	uint32_t reason;
	int ret;

	gmem_error_clear();
	if (!vm || !run)
		return gmem_fail(EINVAL, "handle exit: NULL argument");
	memcpy(&reason, r + GMEM_KVM_RUN_EXIT_REASON_OFFSET, sizeof(reason));
	/* KVM reports a memory fault with KVM_RUN failing (EFAULT). */
	if (result < 0 && reason == GMEM_KVM_EXIT_MEMORY_FAULT) {
		struct gmem_kvm_exit_memory_fault mf;

		memcpy(&mf, r + GMEM_KVM_RUN_EXIT_UNION_OFFSET, sizeof(mf));
		req.gpa = mf.gpa;
		req.length = mf.size;
		req.to = (mf.flags & GMEM_KVM_MEMORY_EXIT_FLAG_PRIVATE) ?
			 GMEM_MEMORY_PRIVATE : GMEM_MEMORY_SHARED;
		req.source = GMEM_CONVERSION_MEMORY_FAULT;
		ret = dispatch(vm, &req);
		return ret < 0 ? ret : 1;
	}
	if (result == 0 && reason == GMEM_KVM_EXIT_HYPERCALL) {
		struct gmem_kvm_exit_hypercall hc;

		memcpy(&hc, r + GMEM_KVM_RUN_EXIT_UNION_OFFSET, sizeof(hc));
		if (hc.nr != GMEM_KVM_HC_MAP_GPA_RANGE)
			return 0;
		req.gpa = hc.args[0];
		req.length = map_range_bytes(hc.args[1], hc.args[2]);
		req.to = (hc.args[2] & GMEM_KVM_MAP_GPA_RANGE_ENCRYPTED) ?
			 GMEM_MEMORY_PRIVATE : GMEM_MEMORY_SHARED;
		req.source = GMEM_CONVERSION_MAP_GPA_RANGE;
		ret = req.length ? dispatch(vm, &req) :
		      gmem_fail(EINVAL, "MAP_GPA_RANGE hypercall: %llu pages "
				"with attributes 0x%llx is no range",
				(unsigned long long)hc.args[1],
				(unsigned long long)hc.args[2]);
		/* The guest gets the answer in the hypercall's return value. */
		hc.ret = (uint64_t)(int64_t)(ret < 0 ? ret : 0);
		memcpy(r + GMEM_KVM_RUN_EXIT_UNION_OFFSET +
		       offsetof(struct gmem_kvm_exit_hypercall, ret), &hc.ret,
		       sizeof(hc.ret));
		return 1;
	}
	return 0;
}
