// SPDX-License-Identifier: MIT
/*
 * watch.c - devices that use a binding's pages besides the vCPUs: the
 * library tells them to let go of a range before the range is discarded
 * or made private, and that they may take it back after a populate or a
 * conversion to shared.  The order is the library's job, never the VMM's.
 */
#include <errno.h>

#include "internal.h"

int gmem_watch_add_locked(struct gmem_binding *b, struct gmem_watch *w)
{
	struct gmem_vm *vm = b->vm;
	struct gmem_file *f = b->file;
	struct gmem_range_hold hold;

	if (!b->attached || !f)
		return gmem_fail(b->attached ? EINVAL : ENOTCONN, "binding at "
				 "0x%llx has %s", (unsigned long long)b->gpa,
				 b->attached ? "no shared side for a device to "
					       "use" : "ended");
	w->binding = b;
	w->vm = vm;
	w->detached = false;
	gmem_vm_get(vm);
	w->file = f;
	w->off = b->offset;
	w->len = b->length;
	w->gpa = b->gpa;
	/* The whole file's range: no discard is walking the list meanwhile. */
	gmem_range_lock(&f->ranges, &hold, 0, f->size);
	pthread_mutex_lock(&f->lock);
	w->file_next = f->watches;
	f->watches = w;
	pthread_mutex_unlock(&f->lock);
	gmem_range_unlock(&f->ranges, &hold);
	w->binding_next = b->watches;
	b->watches = w;
	return 0;
}

int gmem_watch_add(struct gmem_binding *b, struct gmem_watch *w)
{
	int ret;

	pthread_mutex_lock(&b->vm->lock);
	ret = gmem_watch_add_locked(b, w);
	pthread_mutex_unlock(&b->vm->lock);
	return ret;
}

void gmem_vm_listen(struct gmem_vm *vm, struct gmem_vm_listener *l)
{
	pthread_mutex_lock(&vm->lock);
	l->next = vm->listeners;
	vm->listeners = l;
	for (struct gmem_binding *b = vm->bindings; b; b = b->next)
		l->bound(l, b);
	pthread_mutex_unlock(&vm->lock);
}

void gmem_vm_unlisten(struct gmem_vm *vm, struct gmem_vm_listener *l)
{
	struct gmem_vm_listener **pp;

	pthread_mutex_lock(&vm->lock);
	for (pp = &vm->listeners; *pp && *pp != l; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = l->next;
	pthread_mutex_unlock(&vm->lock);
}

void gmem_vm_notify_bound(struct gmem_vm *vm, struct gmem_binding *b)
{
	for (struct gmem_vm_listener *l = vm->listeners; l; l = l->next)
		l->bound(l, b);
}

/* Holding the whole file's range: unlink w from its file. */
static void unlink_file(struct gmem_watch *w)
{
	struct gmem_file *f = w->file;
	struct gmem_watch **pp;

	pthread_mutex_lock(&f->lock);
	for (pp = &f->watches; *pp && *pp != w; pp = &(*pp)->file_next)
		;
	if (*pp)
		*pp = w->file_next;
	pthread_mutex_unlock(&f->lock);
}

void gmem_watch_remove(struct gmem_watch *w)
{
	struct gmem_vm *vm = w->vm;
	struct gmem_range_hold hold;
	struct gmem_watch **pp;

	if (!vm)
		return;
	pthread_mutex_lock(&vm->lock);
	/* A binding that ended took its watches with it (and may be gone). */
	if (!w->detached) {
		for (pp = &w->binding->watches; *pp && *pp != w;
		     pp = &(*pp)->binding_next)
			;
		if (*pp)
			*pp = w->binding_next;
		gmem_range_lock(&w->file->ranges, &hold, 0, w->file->size);
		unlink_file(w);
		gmem_range_unlock(&w->file->ranges, &hold);
	}
	pthread_mutex_unlock(&vm->lock);
	w->vm = NULL;
	gmem_vm_put(vm);
}

void gmem_binding_unwatch_all(struct gmem_binding *b)
{
	struct gmem_watch *w, *next;
	struct gmem_range_hold hold;

	for (w = b->watches; w; w = next) {
		next = w->binding_next;
		gmem_range_lock(&w->file->ranges, &hold, 0, w->file->size);
		w->ops->detach(w);
		unlink_file(w);
		w->detached = true;
		gmem_range_unlock(&w->file->ranges, &hold);
	}
	b->watches = NULL;
}

/* The part of [off, off + len) that w watches; false if none. */
static bool overlap(const struct gmem_watch *w, uint64_t off, uint64_t len,
		    uint64_t *o, uint64_t *l)
{
	uint64_t lo = off > w->off ? off : w->off;
	uint64_t hi = off + len < w->off + w->len ? off + len : w->off + w->len;

	if (lo >= hi)
		return false;
	*o = lo;
	*l = hi - lo;
	return true;
}

int gmem_file_invalidate(struct gmem_file *f, uint64_t off, uint64_t len)
{
	uint64_t o, l;
	int ret;

	/* The list changes only under the whole file's range; part is held. */
	for (struct gmem_watch *w = f->watches; w; w = w->file_next) {
		if (!overlap(w, off, len, &o, &l))
			continue;
		ret = w->ops->invalidate(w, o, l);
		if (ret < 0) {
			/* Put back what the others let go of. */
			for (struct gmem_watch *u = f->watches; u != w;
			     u = u->file_next)
				if (overlap(u, off, len, &o, &l))
					u->ops->revalidate(u, o, l);
			return ret;
		}
	}
	return 0;
}

void gmem_file_revalidate(struct gmem_file *f, uint64_t off, uint64_t len)
{
	uint64_t o, l;

	for (struct gmem_watch *w = f->watches; w; w = w->file_next)
		if (overlap(w, off, len, &o, &l))
			w->ops->revalidate(w, o, l);
}

bool gmem_vm_is_private(struct gmem_vm *vm, uint64_t gpa, uint64_t *run)
{
	uint64_t until;
	bool private;

	pthread_mutex_lock(&vm->attr_lock);
	private = gmem_extents_find(&vm->private_map, gpa, &until);
	pthread_mutex_unlock(&vm->attr_lock);
	*run = until - gpa;
	return private;
}
