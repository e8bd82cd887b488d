// SPDX-License-Identifier: MIT
/* vm.c - a KVM VM handle, owned or borrowed, and the memslots it may use. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"

/* KVM's own slot count when the capability is missing (pre-2012 kernels). */
#define KVM_FALLBACK_MEMSLOTS 32

static int vm_nr_memslots(int vm_fd)
{
	int n = ioctl(vm_fd, KVM_CHECK_EXTENSION, GMEM_KVM_CAP_NR_MEMSLOTS);

	return n > 0 ? n : KVM_FALLBACK_MEMSLOTS;
}

static const char *const type_names[GMEM_VM_TYPE_COUNT] = {
	"default", "sw_protected", "sev", "sev_es", "snp", "tdx",
};

GMEM_API const char *gmem_vm_type_name(uint32_t type)
{
	return type < GMEM_VM_TYPE_COUNT ? type_names[type] : "unknown";
}

static int vm_alloc(int fd, bool owns_fd, uint32_t type, unsigned int first,
		    unsigned int count, struct gmem_vm **out)
{
	struct gmem_vm *vm = calloc(1, sizeof(*vm));
	int attrs;

	if (!vm)
		return gmem_fail(ENOMEM, "out of memory for a VM handle");
	vm->slots_used = calloc((count + 63) / 64, sizeof(uint64_t));
	if (!vm->slots_used) {
		free(vm);
		return gmem_fail(ENOMEM, "out of memory for a VM handle");
	}
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->attr_lock, NULL);
	vm->refs = 1;
	vm->fd = fd;
	vm->owns_fd = owns_fd;
	vm->type = type;
	vm->slot_first = first;
	vm->slot_count = count;
	vm->has_memory2 =
		ioctl(fd, KVM_CHECK_EXTENSION, GMEM_KVM_CAP_USER_MEMORY2) > 0;
	attrs = ioctl(fd, KVM_CHECK_EXTENSION, GMEM_KVM_CAP_MEMORY_ATTRIBUTES);
	vm->has_private = attrs > 0 &&
			  (attrs & GMEM_KVM_MEMORY_ATTRIBUTE_PRIVATE);
	gmem_registry_add_vm(vm);
	*out = vm;
	return 0;
}

/* KVM_CREATE_VM of type; the fd or -errno with the reason. */
int gmem_kvm_create_vm(uint32_t type)
{
	int kvm_fd, vm_fd, err;

	kvm_fd = gmem_open_kvm();
	if (kvm_fd < 0)
		return kvm_fd;
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, (unsigned long)type);
	err = errno;
	close(kvm_fd);
	if (vm_fd >= 0)
		return vm_fd;
	if (err == EINVAL && type != GMEM_VM_TYPE_DEFAULT)
		return gmem_fail(EOPNOTSUPP, "KVM_CREATE_VM: this kernel has no "
				 "VMs of type %u (%s); gmemctl probe lists the "
				 "types it has", type, gmem_vm_type_name(type));
	return gmem_fail(err, "KVM_CREATE_VM (type %u): %s", type,
			 strerror(err));
}

GMEM_API int gmem_vm_create_type(uint32_t type, struct gmem_vm **out)
{
	int vm_fd, ret;

	gmem_error_clear();
	if (!out)
		return gmem_fail(EINVAL, "gmem_vm_create: out is NULL");
	if (type >= GMEM_VM_TYPE_COUNT)
		return gmem_fail(EINVAL, "gmem_vm_create: unknown VM type %u",
				 type);
	vm_fd = gmem_kvm_create_vm(type);
	if (vm_fd < 0)
		return vm_fd;
	ret = vm_alloc(vm_fd, true, type, 0, vm_nr_memslots(vm_fd), out);
	if (ret < 0)
		close(vm_fd);
	return ret;
}

GMEM_API int gmem_vm_create(struct gmem_vm **out)
{
	return gmem_vm_create_type(GMEM_VM_TYPE_DEFAULT, out);
}

int gmem_vm_check_cap(struct gmem_vm *vm, long cap, const char *name,
		      uint64_t *out)
{
	int r = ioctl(vm->fd, KVM_CHECK_EXTENSION, cap);

	if (r < 0)
		return gmem_fail(errno, "KVM_CHECK_EXTENSION(%s): %s", name,
				 strerror(errno));
	*out = (uint64_t)r;
	return 0;
}

/*
 * A KVM VM fd answers KVM_CHECK_EXTENSION, as /dev/kvm does, but unlike
 * /dev/kvm it knows no KVM_GET_API_VERSION.  Asking needs no /proc, so a
 * jailed VMM can hand its fd over too.
 */
static bool is_kvm_vm_fd(int fd)
{
	if (ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0)
		return false;
	return ioctl(fd, KVM_GET_API_VERSION, 0) < 0;
}

GMEM_API int gmem_vm_open(int vm_fd, unsigned int slot_first,
			  unsigned int slot_count, struct gmem_vm **out)
{
	int nr;

	gmem_error_clear();
	if (!out)
		return gmem_fail(EINVAL, "gmem_vm_open: out is NULL");
	if (vm_fd < 0 || fcntl(vm_fd, F_GETFD) < 0)
		return gmem_fail(EBADF, "gmem_vm_open: fd %d is not open", vm_fd);
	if (!is_kvm_vm_fd(vm_fd))
		return gmem_fail(ENOTTY, "gmem_vm_open: fd %d is not a KVM VM fd",
				 vm_fd);
	if (slot_count == 0)
		return gmem_fail(EINVAL, "gmem_vm_open: slot_count is 0");
	nr = vm_nr_memslots(vm_fd);
	if (slot_first >= (unsigned int)nr ||
	    slot_count > (unsigned int)nr - slot_first)
		return gmem_fail(ERANGE,
				 "gmem_vm_open: slots %u..%u are outside the "
				 "VM's %d memslots", slot_first,
				 slot_first + slot_count - 1, nr);
	/* The type is not asked of KVM: what it offers is what counts. */
	return vm_alloc(vm_fd, false, GMEM_VM_TYPE_DEFAULT, slot_first,
			slot_count, out);
}

GMEM_API int gmem_vm_fd(const struct gmem_vm *vm)
{
	gmem_error_clear();
	if (!vm)
		return gmem_fail(EINVAL, "gmem_vm_fd: vm is NULL");
	return vm->fd;
}

void gmem_vm_get(struct gmem_vm *vm)
{
	__atomic_add_fetch(&vm->refs, 1, __ATOMIC_RELAXED);
}

bool gmem_vm_tryget(struct gmem_vm *vm)
{
	int refs = __atomic_load_n(&vm->refs, __ATOMIC_RELAXED);

	while (refs > 0)
		if (__atomic_compare_exchange_n(&vm->refs, &refs, refs + 1,
						false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	return false;
}

void gmem_vm_put(struct gmem_vm *vm)
{
	if (__atomic_sub_fetch(&vm->refs, 1, __ATOMIC_ACQ_REL))
		return;
	gmem_registry_remove_vm(vm);
	gmem_extents_free(&vm->private_map);
	pthread_mutex_destroy(&vm->attr_lock);
	pthread_mutex_destroy(&vm->lock);
	free(vm->slots_used);
	free(vm);
}

bool gmem_vm_is_closed(struct gmem_vm *vm)
{
	bool closed;

	pthread_mutex_lock(&vm->lock);
	closed = vm->closed;
	pthread_mutex_unlock(&vm->lock);
	return closed;
}

int gmem_vm_set_memslot(struct gmem_vm *vm,
			const struct gmem_kvm_userspace_memory_region2 *r)
{
	unsigned long req = GMEM_KVM_SET_USER_MEMORY_REGION2;
	bool create = r->memory_size != 0;

	/*
	 * Kernels before 6.8 only know the first version of the call, whose
	 * struct is a prefix of the second; guest_memfd needs the second.
	 */
	if (!vm->has_memory2) {
		if (r->flags & GMEM_KVM_MEM_GUEST_MEMFD)
			return gmem_fail(EOPNOTSUPP, "this kernel lacks "
					 "KVM_SET_USER_MEMORY_REGION2");
		req = KVM_SET_USER_MEMORY_REGION;
	}
	if (ioctl(vm->fd, req, r) < 0) {
		int err = errno;

		if (create && err == EEXIST)
			return gmem_fail(EEXIST, "KVM_SET_USER_MEMORY_REGION2: "
					 "guest range 0x%llx+0x%llx overlaps a "
					 "memslot the library does not manage",
					 (unsigned long long)r->guest_phys_addr,
					 (unsigned long long)r->memory_size);
		return gmem_fail(err, "KVM_SET_USER_MEMORY_REGION2: %s memslot "
				 "%u: %s", create ? "creating" : "deleting",
				 r->slot, strerror(err));
	}
	return 0;
}

GMEM_API int gmem_vm_close(struct gmem_vm *vm)
{
	struct gmem_file **files;
	struct gmem_binding *b, **pp;
	size_t n = 0;
	int ret = 0;

	gmem_error_clear();
	if (!vm)
		return gmem_fail(EINVAL, "gmem_vm_close: vm is NULL");
	pthread_mutex_lock(&vm->lock);
	for (b = vm->bindings; b; b = b->next)
		n++;
	/* Before anything changes, so running out of memory changes nothing. */
	files = calloc(2 * n + 1, sizeof(*files));
	if (!files) {
		pthread_mutex_unlock(&vm->lock);
		return gmem_fail(ENOMEM, "gmem_vm_close: out of memory");
	}
	vm->closed = true;
	n = 0;
	/*
	 * Delete every slot, even in our own VM: vCPU fds and guest_memfd
	 * files hold the kernel's VM alive past close(), and a slot left
	 * there would still point at the file.  A slot KVM refuses to delete
	 * stays attached, with its file: the guest may still use it.
	 */
	for (pp = &vm->bindings; (b = *pp);) {
		int r = gmem_binding_detach(b, &files[n]);

		if (r < 0) {
			if (!ret)
				ret = r;
			pp = &b->next;
			continue;
		}
		n += 2;
	}
	if (!ret && vm->owns_fd) {
		close(vm->fd);
		vm->fd = -1;
	}
	pthread_mutex_unlock(&vm->lock);
	/*
	 * Outside the lock: the last reference frees a file, which takes the
	 * registry lock, and the lock order is registry, then VM.
	 */
	for (size_t i = 0; i < n; i++)
		if (files[i])
			gmem_file_put(files[i]);
	free(files);
	if (ret < 0)
		return ret;
	gmem_vm_put(vm);
	return 0;
}
