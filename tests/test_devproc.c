// SPDX-License-Identifier: MIT
/*
 * test_devproc.c - devices in processes of their own reach guest memory
 * through memory tables: the table follows bindings; discard, unbind and
 * VM close wait for the device to let go; a guest drives the checksum
 * device (devices/csum) through the VMM; a device that stops answering or
 * dies leaves the VMM running and clean; malformed messages are rejected
 * on both sides.
 */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "memtable_proto.h"
#include "runner.h"
#include "../devices/csum/csum_ring.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/* A generous bound, only to turn a hang into a failure. */
#define BOUND_MS 20000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pause_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait for cond (re-evaluated) for up to BOUND_MS. */
#define WAIT_FOR(cond)							\
	({								\
		uint64_t __end = now_ms() + BOUND_MS;			\
		bool __ok;						\
		while (!(__ok = (cond)) && now_ms() < __end)		\
			pause_ms(1);					\
		__ok;							\
	})

static int seqpair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

/* ---- the device process ---- */

static void device_path(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	self[n > 0 ? n : 0] = '\0';
	snprintf(out, len, "%s/../devices/csumdev", dirname(self));
}

/*
 * Start csumdev on the device end of a fresh socket pair; *sock gets the
 * VMM's end.  The device dies with this case's process, however it ends
 * (even stopped), so nothing outlives a failed case.
 */
static pid_t spawn_device(int *sock, uint64_t ring, const char *extra)
{
	char path[PATH_MAX], ringarg[32];
	int sv[2];
	pid_t pid;

	device_path(path, sizeof(path));
	snprintf(ringarg, sizeof(ringarg), "0x%llx", (unsigned long long)ring);
	if (seqpair(sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(sv[1], 3);
		syscall(SYS_close_range, 4, ~0U, 0);
		/* A fault is the expected end here: no sanitizer report. */
		if (extra && !strcmp(extra, "--stale")) {
			char opts[512];
			const char *old = getenv("ASAN_OPTIONS");

			snprintf(opts, sizeof(opts), "%s%shandle_segv=0",
				 old ? old : "", old ? ":" : "");
			setenv("ASAN_OPTIONS", opts, 1);
		}
		if (extra)
			execl(path, path, "--fd", "3", "--ring", ringarg,
			      extra, (char *)NULL);
		else
			execl(path, path, "--fd", "3", "--ring", ringarg,
			      (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -1;
	}
	*sock = sv[0];
	return pid;
}

/* Wait for pid to end (pidfd, else polling); its wait status or -1. */
static int reap(pid_t pid)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0), status;
	uint64_t end = now_ms() + BOUND_MS;

	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };

		poll(&p, 1, BOUND_MS);
		close(pfd);
	}
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 || now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		pause_ms(1);
	}
}

/* ---- an in-process device: a memtable driven by a thread of its own ---- */

/*
 * The memtable is used by one thread at a time: the pump thread holds the
 * lock while it processes, the test takes it to translate.
 */
struct client {
	struct gmem_memtable *mt;
	pthread_mutex_t lock;
	pthread_t th;
	volatile bool stop;
	int result;			/* what process returned last, < 0 */
};

static void *pump(void *arg)
{
	struct client *c = arg;

	while (!c->stop) {
		struct pollfd p = { .fd = gmem_memtable_fd(c->mt),
				    .events = POLLIN };
		int r;

		poll(&p, 1, 20);
		pthread_mutex_lock(&c->lock);
		r = gmem_memtable_process(c->mt, 0, NULL);
		pthread_mutex_unlock(&c->lock);
		if (r < 0) {
			c->result = r;
			break;
		}
	}
	return NULL;
}

static int client_start(struct client *c, int sock)
{
	struct gmem_memtable_args a = { .sock_fd = sock, .name = "test",
					.timeout_ms = BOUND_MS };
	int ret;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	ret = gmem_memtable_open(&a, &c->mt);
	if (ret < 0)
		return ret;
	return -pthread_create(&c->th, NULL, pump, c);
}

static void client_stop(struct client *c)
{
	c->stop = true;
	pthread_join(c->th, NULL);
	gmem_memtable_close(c->mt);
}

static void *client_translate(struct client *c, uint64_t gpa, uint64_t len,
			      uint32_t access)
{
	void *p;

	int err;

	pthread_mutex_lock(&c->lock);
	p = gmem_memtable_translate(c->mt, gpa, len, access);
	err = errno;
	pthread_mutex_unlock(&c->lock);
	errno = err;
	return p;
}

static struct gmem_memtable_info client_info(struct client *c)
{
	struct gmem_memtable_info i;

	pthread_mutex_lock(&c->lock);
	gmem_memtable_info(c->mt, &i);
	pthread_mutex_unlock(&c->lock);
	return i;
}

static uint32_t devproc_status(struct gmem_devproc *d,
			       struct gmem_devproc_info *info)
{
	return (uint32_t)gmem_devproc_state(d, 0, info);
}

static struct gmem_devproc *add_device(struct gmem_vm *vm, int sock,
				       uint32_t timeout_ms, uint32_t flags)
{
	struct gmem_devproc_args a = { .sock_fd = sock, .name = "dev",
				       .timeout_ms = timeout_ms,
				       .flags = flags };
	struct gmem_devproc *d;

	return gmem_devproc_add(vm, &a, &d) < 0 ? NULL : d;
}

static struct gmem_file *memfd_file(uint64_t size)
{
	struct gmem_file_args fa = { .size = size,
				     .backend = GMEM_BACKEND_MEMFD };
	struct gmem_file *f;

	return gmem_file_create(&fa, &f) < 0 ? NULL : f;
}

static struct gmem_binding *bind_at(struct gmem_vm *vm, struct gmem_file *f,
				    uint64_t off, uint64_t len, uint64_t gpa)
{
	struct gmem_bind_args ba = { .offset = off, .length = len, .gpa = gpa,
				     .slot = GMEM_SLOT_ANY };
	struct gmem_binding *b;

	return gmem_bind(vm, f, &ba, &b) < 0 ? NULL : b;
}

/* ---- the table follows the VM ---- */

static void table_follows_bindings(void)
{
	struct gmem_binding *b1, *b2;
	struct gmem_devproc_info info;
	struct gmem_file *f, *g;
	struct gmem_devproc *d;
	struct gmem_vm *vm;
	struct client c;
	uint8_t *p, *host;
	int sv[2], fds0;

	T_SKIP_UNLESS(t_need_kvm());
	fds0 = t_count_fds();
	CHECK_OK(gmem_vm_create(&vm));
	CHECK(f = memfd_file(4 * MIB));
	CHECK(g = memfd_file(2 * MIB));
	CHECK(b1 = bind_at(vm, f, 0, 4 * MIB, GIB));
	CHECK(seqpair(sv) == 0);
	CHECK(d = add_device(vm, sv[0], BOUND_MS, 0));
	CHECK_OK(client_start(&c, sv[1]));
	CHECK(gmem_devproc_state(d, BOUND_MS, &info) == GMEM_DEVPROC_CONNECTED);
	/* The binding there before the device: mapped, and the same bytes. */
	CHECK(WAIT_FOR(client_info(&c).entries == 1));
	CHECK(p = client_translate(&c, GIB + 8192, 4096, GMEM_MEMTABLE_WRITE));
	host = gmem_file_host_addr(f);
	memset(p, 0x5a, 4096);
	CHECK(host[8192] == 0x5a && host[8192 + 4095] == 0x5a);
	CHECK(!client_translate(&c, GIB - 4096, 8192, GMEM_MEMTABLE_READ));
	CHECK(errno == ENOENT);
	CHECK(!client_translate(&c, GIB + 4 * MIB - 4096, 8192,
				GMEM_MEMTABLE_READ));
	/* A binding made later arrives too. */
	CHECK(b2 = bind_at(vm, g, 0, 2 * MIB, 2 * GIB));
	CHECK(WAIT_FOR(client_info(&c).entries == 2));
	CHECK(client_translate(&c, 2 * GIB, 2 * MIB, GMEM_MEMTABLE_READ));
	/* Discard returns once the device let go: gone at once, here. */
	CHECK_OK(gmem_discard(f, 8192, 4096));
	CHECK(!client_translate(&c, GIB + 8192, 8, GMEM_MEMTABLE_READ));
	CHECK(errno == EFAULT);
	CHECK(client_translate(&c, GIB + 4096, 4096, GMEM_MEMTABLE_READ));
	CHECK(client_translate(&c, GIB + 12288, 4096, GMEM_MEMTABLE_READ));
	CHECK(client_info(&c).invalid_bytes == 4096);
	CHECK(host[8192] == 0);
	devproc_status(d, &info);
	CHECK(info.invalidations == 1 && info.entries == 2);
	/* What the device let go of is not asked for twice. */
	CHECK_OK(gmem_discard(f, 8192, 4096));
	devproc_status(d, &info);
	CHECK(info.invalidations == 1);
	/* Populate gives it back (no ACK to wait for: wait for the message). */
	CHECK_OK(gmem_populate(f, 0, 4 * MIB));
	CHECK(WAIT_FOR(client_translate(&c, GIB + 8192, 8,
					GMEM_MEMTABLE_READ) != NULL));
	CHECK(client_info(&c).invalid_bytes == 0);
	/* Unbind returns once the entry is gone. */
	CHECK_OK(gmem_unbind(b2));
	CHECK(client_info(&c).entries == 1);
	CHECK(!client_translate(&c, 2 * GIB, 4096, GMEM_MEMTABLE_READ));
	/* Bind again: the entry comes back (reusing the old one's record). */
	CHECK(b2 = bind_at(vm, g, 0, 2 * MIB, 2 * GIB));
	CHECK(WAIT_FOR(client_info(&c).entries == 2));
	/* Closing the VM ends every binding, and the device hears of each. */
	CHECK_OK(gmem_vm_close(vm));
	CHECK(client_info(&c).entries == 0);
	devproc_status(d, &info);
	CHECK(info.status == GMEM_DEVPROC_CONNECTED && info.entries == 0);
	/* Goodbye: the device's process call says so. */
	CHECK_OK(gmem_devproc_remove(d));
	pthread_join(c.th, NULL);
	CHECK(c.result == -ESHUTDOWN);
	c.stop = true;
	gmem_memtable_close(c.mt);
	CHECK_OK(gmem_unbind(b1));
	CHECK_OK(gmem_unbind(b2));
	CHECK_OK(gmem_file_close(f));
	CHECK_OK(gmem_file_close(g));
	CHECK(t_count_fds() == fds0);
}

/* Remove before the VM closes, with bindings live: discards stop waiting. */
static void remove_then_close(void)
{
	struct gmem_devproc_info info;
	struct gmem_binding *b;
	struct gmem_devproc *d;
	struct gmem_file *f;
	struct gmem_vm *vm;
	struct client c;
	int sv[2], fds0;

	T_SKIP_UNLESS(t_need_kvm());
	fds0 = t_count_fds();
	CHECK_OK(gmem_vm_create(&vm));
	CHECK(f = memfd_file(2 * MIB));
	CHECK(b = bind_at(vm, f, 0, 2 * MIB, 0));
	CHECK(seqpair(sv) == 0);
	CHECK(d = add_device(vm, sv[0], BOUND_MS, 0));
	CHECK_OK(client_start(&c, sv[1]));
	CHECK(gmem_devproc_state(d, BOUND_MS, &info) == GMEM_DEVPROC_CONNECTED);
	CHECK(WAIT_FOR(client_info(&c).entries == 1));
	CHECK_OK(gmem_devproc_remove(d));
	pthread_join(c.th, NULL);
	CHECK(c.result == -ESHUTDOWN);
	/* The device said goodbye and holds nothing. */
	CHECK(client_info(&c).entries == 0);
	gmem_memtable_close(c.mt);
	CHECK_OK(gmem_discard(f, 0, 4096));
	CHECK_OK(gmem_vm_close(vm));
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(f));
	CHECK(t_count_fds() == fds0);
}

/* ---- a guest drives the checksum device through the VMM ---- */

#define RAM_SIZE (16 * MIB)
#define RING_GPA (4 * MIB)
#define AREA_PAGES 2048ULL
#define AREA_GPA (RAM_SIZE - AREA_PAGES * 4096)
#define NSLOTS 64

struct vmm {
	struct guest g;
	struct gmem_devproc *d;
	pid_t pid;
	int fds0;
};

/* The runner's hook: the guest's doorbell becomes the device's kick. */
static int kick_port(struct guest *g, uint16_t port, bool out, void *data,
		     uint32_t size, uint32_t count, void *opaque)
{
	struct gmem_devproc *d = opaque;

	(void)g, (void)data, (void)size, (void)count;
	if (port != CSUM_KICK_PORT || !out)
		return -EPROTO;
	return gmem_devproc_notify(d, 0);
}

/* A guest on backend RAM and a csumdev process following its table. */
static bool vmm_start(struct vmm *v, enum gmem_backend backend,
		      uint32_t timeout_ms, const char *extra)
{
	struct guest_config cfg = { .backend = backend, .ram_size = RAM_SIZE };
	struct gmem_devproc_info info;
	int sock;

	memset(v, 0, sizeof(*v));
	v->pid = -1;
	v->fds0 = t_count_fds();
	if (guest_create(&v->g, &cfg) < 0) {
		t_fail(__FILE__, __LINE__, "guest_create: %s", v->g.error);
		return false;
	}
	v->pid = spawn_device(&sock, RING_GPA, extra);
	if (v->pid < 0) {
		t_fail(__FILE__, __LINE__, "cannot start csumdev");
		return false;
	}
	v->d = add_device(v->g.vm, sock, timeout_ms, 0);
	if (!v->d) {
		t_fail(__FILE__, __LINE__, "gmem_devproc_add: %s",
		       gmem_last_error());
		close(sock);
		return false;
	}
	if (gmem_devproc_state(v->d, BOUND_MS, &info) !=
	    GMEM_DEVPROC_CONNECTED) {
		t_fail(__FILE__, __LINE__, "csumdev did not connect: %s",
		       info.reason);
		return false;
	}
	v->g.port_io = kick_port;
	v->g.port_opaque = v->d;
	return true;
}

/* Tear down as a VMM would; the device's wait status. */
static int vmm_stop(struct vmm *v)
{
	int status = -1;

	if (v->d)
		gmem_devproc_remove(v->d);
	if (v->pid > 0)
		status = reap(v->pid);
	guest_destroy(&v->g);
	v->d = NULL;
	v->pid = -1;
	return status;
}

static void guest_uses_device(enum gmem_backend backend)
{
	uint64_t args[4] = { RING_GPA, AREA_GPA, AREA_PAGES, 0 };
	struct gmem_devproc_info info;
	struct guest_ucall uc;
	struct vmm v;
	int status;

	T_SKIP_UNLESS(t_need_kvm());
	if (backend == GMEM_BACKEND_GUEST_MEMFD)
		T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	if (!vmm_start(&v, backend, BOUND_MS, NULL)) {
		vmm_stop(&v);
		return;
	}
	CHECK(guest_load(&v.g, "csum", args) == 0);
	if (guest_run(&v.g, &uc) < 0) {
		t_fail(__FILE__, __LINE__, "guest: %s", v.g.error);
		vmm_stop(&v);
		return;
	}
	CHECK(uc.cmd == UCALL_DONE);
	/* 12 rounds of 8, and 3 bad requests answered as such. */
	CHECK(uc.arg[0] == 12 * 8 + 3);
	devproc_status(v.d, &info);
	CHECK(info.status == GMEM_DEVPROC_CONNECTED && info.kicks == 13);
	status = vmm_stop(&v);
	/* The device left when told goodbye, and nothing leaked here. */
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(t_count_fds() == v.fds0);
}

static void guest_uses_device_memfd(void)
{
	guest_uses_device(GMEM_BACKEND_MEMFD);
}

static void guest_uses_device_guest_memfd(void)
{
	guest_uses_device(GMEM_BACKEND_GUEST_MEMFD);
}

static bool page_is_zero(const uint8_t *p)
{
	for (size_t i = 0; i < 4096; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Run the busy-discard guest to its call: the device has the slot and is
 * half-way through a big request, paused.  Then take the slot page away.
 */
static bool discard_under_paused_device(struct vmm *v, uint8_t **slots)
{
	uint64_t args[4] = { RING_GPA, AREA_GPA, AREA_PAGES, 1 };
	volatile struct csum_req *r;
	struct gmem_devproc_info info;
	struct guest_ucall uc;

	if (guest_load(&v->g, "csum", args) < 0 || guest_run(&v->g, &uc) < 0) {
		t_fail(__FILE__, __LINE__, "guest: %s", v->g.error);
		return false;
	}
	if (uc.cmd != UCALL_VALUE || uc.arg[0] != 1 ||
	    uc.arg[1] != RING_GPA + CSUM_PAGE) {
		t_fail(__FILE__, __LINE__, "guest call %llu",
		       (unsigned long long)uc.cmd);
		return false;
	}
	*slots = v->g.ram_host + RING_GPA + CSUM_PAGE;
	r = (volatile struct csum_req *)*slots;
	if (!WAIT_FOR(__atomic_load_n(&r->status, __ATOMIC_ACQUIRE) ==
		      CSUM_S_PAUSED)) {
		t_fail(__FILE__, __LINE__, "the device never paused");
		return false;
	}
	/* The device is busy with this slot: it must let go first. */
	if (gmem_discard(v->g.ram, RING_GPA + CSUM_PAGE, CSUM_PAGE) < 0) {
		t_fail(__FILE__, __LINE__, "discard: %s", gmem_last_error());
		return false;
	}
	devproc_status(v->d, &info);
	if (info.invalidations != 1 || !page_is_zero(*slots)) {
		t_fail(__FILE__, __LINE__, "discard: %llu invalidations, "
		       "slot page %s", (unsigned long long)info.invalidations,
		       page_is_zero(*slots) ? "zero" : "not zero");
		return false;
	}
	return true;
}

static void discard_while_device_busy(void)
{
	volatile struct csum_ring_hdr *h;
	struct gmem_devproc_info info;
	struct guest_ucall uc;
	uint8_t *slots;
	struct vmm v;
	int status;

	T_SKIP_UNLESS(t_need_kvm());
	if (!vmm_start(&v, GMEM_BACKEND_MEMFD, BOUND_MS, NULL) ||
	    !discard_under_paused_device(&v, &slots)) {
		vmm_stop(&v);
		return;
	}
	h = (volatile struct csum_ring_hdr *)(v.g.ram_host + RING_GPA);
	/* Let it go on: it finds the slot gone and gives the request up. */
	CHECK_OK(gmem_devproc_notify(v.d, 0));
	CHECK(WAIT_FOR(__atomic_load_n(&h->used, __ATOMIC_ACQUIRE) == 1));
	CHECK(h->abandoned == 1);
	/*
	 * It wrote nothing there after the discard returned: a write would
	 * have put a page back in the hole with its status and result.
	 */
	CHECK(page_is_zero(slots));
	/* Populated again, the slots work again (checked by the guest). */
	CHECK_OK(gmem_populate(v.g.ram, RING_GPA + CSUM_PAGE, CSUM_PAGE));
	if (guest_run(&v.g, &uc) < 0) {
		t_fail(__FILE__, __LINE__, "guest: %s", v.g.error);
		vmm_stop(&v);
		return;
	}
	CHECK(uc.cmd == UCALL_DONE && uc.arg[0] == 2);
	devproc_status(v.d, &info);
	CHECK(info.status == GMEM_DEVPROC_CONNECTED);
	status = vmm_stop(&v);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(t_count_fds() == v.fds0);
}

/*
 * A device that keeps a pointer past a process call breaks the contract:
 * the invalidated range is inaccessible to it, so it faults instead of
 * writing into the hole.
 */
static void stale_pointer_faults_in_the_device(void)
{
	struct gmem_devproc_info info;
	uint8_t *slots;
	struct vmm v;
	int status;

	T_SKIP_UNLESS(t_need_kvm());
	if (!vmm_start(&v, GMEM_BACKEND_MEMFD, BOUND_MS, "--stale") ||
	    !discard_under_paused_device(&v, &slots)) {
		vmm_stop(&v);
		return;
	}
	CHECK_OK(gmem_devproc_notify(v.d, 0));
	status = reap(v.pid);
	v.pid = -1;
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	CHECK(page_is_zero(slots));
	/* The VMM saw it go, and a discard no longer waits for it. */
	CHECK(WAIT_FOR(devproc_status(v.d, &info) == GMEM_DEVPROC_FAILED));
	CHECK(info.error == ECONNRESET);
	CHECK_OK(gmem_discard(v.g.ram, AREA_GPA, 4096));
	vmm_stop(&v);
	CHECK(t_count_fds() == v.fds0);
}

/* ---- a device that breaks the rules on purpose ---- */

/* A hand-made device: the protocol spoken by hand, to misbehave. */
struct raw {
	int sock;
	uint64_t seq;			/* our last */
	uint64_t buf[GMEM_MT_MAX_MSG / 8];
	int fds[GMEM_MT_MAX_FDS];
	unsigned int nfds;
	ssize_t len;
};

/* Receive one message, waiting up to BOUND_MS; its type or -errno. */
static int raw_recv(struct raw *r)
{
	struct pollfd p = { .fd = r->sock, .events = POLLIN };
	char why[160];

	if (poll(&p, 1, BOUND_MS) != 1)
		return -ETIMEDOUT;
	r->len = gmem_mt_recv(r->sock, r->buf, r->fds, &r->nfds, why,
			      sizeof(why));
	if (r->len <= 0)
		return r->len ? (int)r->len : -ECONNRESET;
	return (int)((struct gmem_mt_hdr *)r->buf)->type;
}

static int raw_send(struct raw *r, void *msg, size_t len, const int *fds,
		    unsigned int nfds)
{
	((struct gmem_mt_hdr *)msg)->seq = ++r->seq;
	return gmem_mt_send(r->sock, msg, len, fds, nfds, BOUND_MS);
}

static void hello_init(struct gmem_mt_hello *h)
{
	memset(h, 0, sizeof(*h));
	gmem_mt_hdr_init(&h->h, GMEM_MT_HELLO, sizeof(*h), 0);
	h->magic = GMEM_MT_MAGIC;
	h->major = GMEM_MT_MAJOR;
	h->max_entries = 16;
	h->max_fds = GMEM_MT_MAX_FDS;
	strcpy(h->name, "raw");
}

static int raw_ack(struct raw *r)
{
	struct gmem_mt_ack a = {
		.seq = ((struct gmem_mt_hdr *)r->buf)->seq,
	};

	gmem_mt_hdr_init(&a.h, GMEM_MT_ACK, sizeof(a), 0);
	return raw_send(r, &a, sizeof(a), NULL, 0);
}

/*
 * A device that acknowledges an invalidation and writes there anyway:
 * the check the tests above make (the discarded page reads zero) catches
 * it, so that check can fail.
 */
struct liar {
	struct raw r;
	uint8_t *map;			/* its own mapping of the entry */
	int go[2];			/* the test: "write now" */
	int done[2];			/* the liar: "written" */
};

static void *liar_main(void *arg)
{
	struct liar *l = arg;
	struct gmem_mt_hello h;
	struct gmem_mt_map *m;
	char c = 'x';
	int type;

	hello_init(&h);
	if (raw_send(&l->r, &h, sizeof(h), NULL, 0) < 0 ||
	    raw_recv(&l->r) != GMEM_MT_HELLO || raw_recv(&l->r) != GMEM_MT_MAP)
		goto out;
	m = (struct gmem_mt_map *)l->r.buf;
	l->map = mmap(NULL, m->e[0].length, PROT_READ | PROT_WRITE, MAP_SHARED,
		      l->r.fds[0], (off_t)m->e[0].offset);
	close(l->r.fds[0]);
	if (l->map == MAP_FAILED)
		goto out;
	while ((type = raw_recv(&l->r)) > 0 && type != GMEM_MT_INVALIDATE)
		;
	if (type != GMEM_MT_INVALIDATE || raw_ack(&l->r) < 0)
		goto out;
	/* Acknowledged; and yet, once told, it writes. */
	if (read(l->go[0], &c, 1) != 1)
		goto out;
	memset(l->map + 4096, 0xee, 64);
	c = 'w';
out:
	if (write(l->done[1], &c, 1) != 1)
		return NULL;
	return NULL;
}

static void lying_device_is_caught(void)
{
	struct gmem_devproc_info info;
	struct gmem_binding *b;
	struct gmem_devproc *d;
	struct gmem_file *f;
	struct gmem_vm *vm;
	struct liar l = { 0 };
	pthread_t th;
	uint8_t *host;
	int sv[2];
	char c;

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&vm));
	CHECK(f = memfd_file(2 * MIB));
	CHECK(b = bind_at(vm, f, 0, 2 * MIB, 0));
	CHECK(seqpair(sv) == 0 && pipe(l.go) == 0 && pipe(l.done) == 0);
	l.r.sock = sv[1];
	CHECK(pthread_create(&th, NULL, liar_main, &l) == 0);
	CHECK(d = add_device(vm, sv[0], BOUND_MS, 0));
	CHECK(gmem_devproc_state(d, BOUND_MS, &info) == GMEM_DEVPROC_CONNECTED);
	host = gmem_file_host_addr(f);
	CHECK(WAIT_FOR(devproc_status(d, &info) == GMEM_DEVPROC_CONNECTED &&
		       info.entries == 1));
	CHECK_OK(gmem_discard(f, 4096, 4096));
	CHECK(page_is_zero(host + 4096));
	CHECK(write(l.go[1], "g", 1) == 1 && read(l.done[0], &c, 1) == 1);
	CHECK(c == 'w');
	/* The lie shows: the hole has the device's bytes in it. */
	CHECK(!page_is_zero(host + 4096) && host[4096] == 0xee);
	pthread_join(th, NULL);
	/* Gone without a goodbye: remove does not wait for one. */
	close(sv[1]);
	CHECK_OK(gmem_devproc_remove(d));
	munmap(l.map, 2 * MIB);
	CHECK_OK(gmem_vm_close(vm));
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(f));
}

/* ---- devices that stop answering, or die ---- */

static void device_that_stops_answering_times_out(void)
{
	struct gmem_devproc_info info;
	uint64_t t0, took;
	struct vmm v;
	int status;

	T_SKIP_UNLESS(t_need_kvm());
	if (!vmm_start(&v, GMEM_BACKEND_MEMFD, 1000, NULL)) {
		vmm_stop(&v);
		return;
	}
	CHECK(kill(v.pid, SIGSTOP) == 0);
	t0 = now_ms();
	CHECK_OK(gmem_discard(v.g.ram, AREA_GPA, 4096));
	took = now_ms() - t0;
	/* It waited the device's timeout, then failed it, with the reason. */
	CHECK(took >= 990);
	CHECK(devproc_status(v.d, &info) == GMEM_DEVPROC_FAILED);
	CHECK(info.error == ETIMEDOUT && strstr(info.reason, "no ACK"));
	CHECK(info.waiting == 0);
	/* A failed device gets nothing, and nothing waits for it. */
	t0 = now_ms();
	CHECK_OK(gmem_discard(v.g.ram, AREA_GPA, 4096));
	CHECK(now_ms() - t0 < 900);
	CHECK(gmem_devproc_notify(v.d, 0) == -ENOTCONN);
	/* Woken, it finds the table over and leaves. */
	CHECK(kill(v.pid, SIGCONT) == 0);
	status = reap(v.pid);
	v.pid = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	vmm_stop(&v);
	CHECK(t_count_fds() == v.fds0);
}

struct discarder {
	struct gmem_file *f;
	uint64_t off;
	int ret;
	uint64_t took;
};

static void *discard_thread(void *arg)
{
	struct discarder *x = arg;
	uint64_t t0 = now_ms();

	x->ret = gmem_discard(x->f, x->off, 4096);
	x->took = now_ms() - t0;
	return NULL;
}

static void device_dies_mid_protocol(void)
{
	struct discarder x = { 0 };
	struct gmem_devproc_info info;
	struct gmem_binding *b;
	struct gmem_file *f;
	pthread_t th;
	struct vmm v;
	int status;

	T_SKIP_UNLESS(t_need_kvm());
	if (!vmm_start(&v, GMEM_BACKEND_MEMFD, 60000, NULL)) {
		vmm_stop(&v);
		return;
	}
	/* Stopped, it cannot answer: the discard waits... */
	CHECK(kill(v.pid, SIGSTOP) == 0);
	x.f = v.g.ram;
	x.off = AREA_GPA;
	CHECK(pthread_create(&th, NULL, discard_thread, &x) == 0);
	CHECK(WAIT_FOR(devproc_status(v.d, &info) != GMEM_DEVPROC_CONNECTED ||
		       info.waiting == 1));
	/* ...until it dies, half-way through the exchange. */
	CHECK(kill(v.pid, SIGKILL) == 0);
	status = reap(v.pid);
	v.pid = -1;
	CHECK(WIFSIGNALED(status));
	pthread_join(th, NULL);
	CHECK(x.ret == 0);
	CHECK(x.took < 30000);
	CHECK(devproc_status(v.d, &info) == GMEM_DEVPROC_FAILED);
	/* The same however the VMM noticed: reading, or sending to it. */
	if (info.error != ECONNRESET || !strstr(info.reason, "closed"))
		t_fail(__FILE__, __LINE__, "device death reported as %d (%s)",
		       info.error, info.reason);
	/* The VMM goes on: binds, discards and unbinds as before. */
	CHECK(f = memfd_file(2 * MIB));
	CHECK(b = bind_at(v.g.vm, f, 0, 2 * MIB, GIB));
	CHECK_OK(gmem_discard(f, 0, 2 * MIB));
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(f));
	vmm_stop(&v);
	/* Every fd the device had from us is closed. */
	CHECK(t_count_fds() == v.fds0);
}

/* ---- malformed messages: the VMM rejects a device's ---- */

struct bad_device_msg {
	const char *name;
	const char *reason;	/* part of the VMM's reason */
	int error;
	bool hello_first;	/* send a good HELLO before it */
	size_t len;		/* bytes to send (0: the struct's own size) */
	unsigned int nfds;
	void (*make)(void *buf);
};

static void mk_hello_v2(void *b)
{
	hello_init(b);
	((struct gmem_mt_hello *)b)->major = 2;
}

static void mk_hello_magic(void *b)
{
	hello_init(b);
	((struct gmem_mt_hello *)b)->magic = 0x12345678;
}

static void mk_truncated(void *b)
{
	hello_init(b);
}

static void mk_huge(void *b)
{
	hello_init(b);
	((struct gmem_mt_hdr *)b)->size = 5000;
}

static void mk_ack(void *b)
{
	struct gmem_mt_ack *a = b;

	gmem_mt_hdr_init(&a->h, GMEM_MT_ACK, sizeof(*a), 0);
	a->seq = 1;
}

static void mk_ack_future(void *b)
{
	mk_ack(b);
	((struct gmem_mt_ack *)b)->seq = 1000;
}

static void mk_unknown(void *b)
{
	mk_ack(b);
	((struct gmem_mt_hdr *)b)->type = 42;
}

static void mk_map(void *b)
{
	struct gmem_mt_map *m = b;

	gmem_mt_hdr_init(&m->h, GMEM_MT_MAP, sizeof(*m) + sizeof(m->e[0]), 0);
	m->count = 1;
	m->e[0].flags = GMEM_MT_READ;
	m->e[0].length = 4096;
}

static void mk_error(void *b)
{
	struct gmem_mt_error *e = b;

	gmem_mt_hdr_init(&e->h, GMEM_MT_ERROR, sizeof(*e), 0);
	e->code = EIO;
	strcpy(e->reason, "disk on fire");
}

static void mk_ack_size(void *b)
{
	mk_ack(b);
	((struct gmem_mt_hdr *)b)->size = sizeof(struct gmem_mt_ack) + 8;
}

static const struct bad_device_msg bad_device_msgs[] = {
	{ "unknown version", "version 2.0", EPROTO, false, 0, 0, mk_hello_v2 },
	{ "bad magic", "magic", EPROTO, false, 0, 0, mk_hello_magic },
	{ "truncated frame", "truncated", EPROTO, false, 40, 0, mk_truncated },
	{ "shorter than a header", "truncated", EPROTO, false, 8, 0,
	  mk_truncated },
	{ "longer than the limit", "longer than", EMSGSIZE, false, 5000, 0,
	  mk_huge },
	{ "fds with an ACK", "only MAP carries fds", EPROTO, true, 0, 1,
	  mk_ack },
	{ "too many fds", "more than 8 fds", EPROTO, true, 0, 12, mk_ack },
	{ "unknown type", "type 42", EPROTO, true, 0, 0, mk_unknown },
	{ "a VMM's message", "not one the device sends", EPROTO, true, 0, 1,
	  mk_map },
	{ "ACK of the future", "ACK of 1000", EPROTO, true, 0, 0,
	  mk_ack_future },
	{ "ACK before HELLO", "before HELLO", EPROTO, false, 0, 0, mk_ack },
	{ "padded ACK", "ACK of 32 bytes", EPROTO, true, 32, 0, mk_ack_size },
	{ "device gives up", "disk on fire", EIO, true, 0, 0, mk_error },
};

static size_t own_size(const void *b)
{
	return ((const struct gmem_mt_hdr *)b)->size;
}

static void vmm_rejects_bad_device_messages(void)
{
	struct gmem_binding *b;
	struct gmem_file *f;
	struct gmem_vm *vm;
	int fds0;

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&vm));
	CHECK(f = memfd_file(2 * MIB));
	CHECK(b = bind_at(vm, f, 0, 2 * MIB, 0));
	fds0 = t_count_fds();
	for (size_t i = 0; i < sizeof(bad_device_msgs) /
			       sizeof(bad_device_msgs[0]); i++) {
		const struct bad_device_msg *t = &bad_device_msgs[i];
		uint64_t buf[6000 / 8] = { 0 };
		struct gmem_devproc_info info;
		struct gmem_devproc *d;
		struct raw r = { 0 };
		int fds[12], sv[2];

		CHECK(seqpair(sv) == 0);
		r.sock = sv[1];
		for (unsigned int k = 0; k < t->nfds; k++)
			CHECK((fds[k] = memfd_create("x", MFD_CLOEXEC)) >= 0);
		CHECK(d = add_device(vm, sv[0], BOUND_MS, 0));
		if (t->hello_first) {
			struct gmem_mt_hello h;

			hello_init(&h);
			CHECK(raw_send(&r, &h, sizeof(h), NULL, 0) == 0);
			CHECK(gmem_devproc_state(d, BOUND_MS, &info) ==
			      GMEM_DEVPROC_CONNECTED);
		}
		t->make(buf);
		((struct gmem_mt_hdr *)buf)->seq = ++r.seq;
		/* Past the fd limit only the kernel's SCM_MAX_FD applies. */
		if (t->nfds > GMEM_MT_MAX_FDS) {
			union {
				char c[CMSG_SPACE(sizeof(int) * 12)];
				struct cmsghdr a;
			} u = { 0 };
			struct iovec iov = { buf, own_size(buf) };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
					     .msg_control = u.c,
					     .msg_controllen = sizeof(u.c) };
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * t->nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * t->nfds);
			CHECK(sendmsg(r.sock, &mh, 0) == (ssize_t)own_size(buf));
		} else {
			CHECK(gmem_mt_send(r.sock, buf,
					   t->len ? t->len : own_size(buf), fds,
					   t->nfds, BOUND_MS) == 0);
		}
		for (unsigned int k = 0; k < t->nfds; k++)
			close(fds[k]);
		if (!WAIT_FOR(devproc_status(d, &info) ==
			      GMEM_DEVPROC_FAILED)) {
			t_fail(__FILE__, __LINE__, "%s: not rejected", t->name);
			return;
		}
		if (info.error != t->error || !strstr(info.reason, t->reason)) {
			t_fail(__FILE__, __LINE__, "%s: error %d, reason "
			       "\"%s\"", t->name, info.error, info.reason);
			return;
		}
		/* The VMM told the device why (a peer that gave up is not). */
		if (t->error != EIO) {
			int type;

			while ((type = raw_recv(&r)) > 0 &&
			       type != GMEM_MT_ERROR)
				for (unsigned int k = 0; k < r.nfds; k++)
					close(r.fds[k]);
			CHECK(type == GMEM_MT_ERROR);
		}
		CHECK_OK(gmem_devproc_remove(d));
		close(sv[1]);
		/* Whatever the device sent or was sent is closed again. */
		if (t_count_fds() != fds0) {
			t_fail(__FILE__, __LINE__, "%s: %d fds, not %d",
			       t->name, t_count_fds(), fds0);
			return;
		}
	}
	CHECK_OK(gmem_vm_close(vm));
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(f));
}

/* ---- malformed messages: a device rejects a VMM's ---- */

struct bad_vmm_msg {
	const char *name;
	const char *reason;
	int error;
	unsigned int nfds;
	int fd_kind;		/* 0 memfd of 1 MiB, 1 a pipe, 2 read-only */
	void (*make)(void *buf, size_t *len);
};

static void map_one(void *b, size_t *len, uint64_t off, uint64_t length,
		    uint64_t gpa, uint32_t flags)
{
	struct gmem_mt_map *m = b;

	*len = sizeof(*m) + sizeof(m->e[0]);
	gmem_mt_hdr_init(&m->h, GMEM_MT_MAP, (uint32_t)*len, 0);
	m->count = 1;
	m->e[0] = (struct gmem_mt_entry){ .id = 7, .flags = flags,
					  .offset = off, .length = length,
					  .gpa = gpa };
}

static void mv_past_file(void *b, size_t *len)
{
	map_one(b, len, MIB, 4096, 0, GMEM_MT_READ);
}

static void mv_wraps(void *b, size_t *len)
{
	map_one(b, len, ~0ULL - 4095, 8192, 0, GMEM_MT_READ);
}

static void mv_count_mismatch(void *b, size_t *len)
{
	struct gmem_mt_map *m = b;

	map_one(b, len, 0, 4096, 0, GMEM_MT_READ);
	m->e[1] = m->e[0];
	m->e[1].id = 8;
	m->e[1].gpa = MIB;
	m->count = 2;
	*len += sizeof(m->e[0]);
	m->h.size = (uint32_t)*len;
}

static void mv_many_fds(void *b, size_t *len)
{
	map_one(b, len, 0, 4096, 0, GMEM_MT_READ);
}

static void mv_truncated(void *b, size_t *len)
{
	map_one(b, len, 0, 4096, 0, GMEM_MT_READ);
	*len -= 16;
}

static void mv_write_ro(void *b, size_t *len)
{
	map_one(b, len, 0, 4096, 0, GMEM_MT_READ | GMEM_MT_WRITE);
}

static void mv_unknown_flags(void *b, size_t *len)
{
	map_one(b, len, 0, 4096, 0, GMEM_MT_READ | 0x80);
}

static void mv_unaligned(void *b, size_t *len)
{
	map_one(b, len, 100, 4096, 0, GMEM_MT_READ);
}

static void mv_invalidate_unknown(void *b, size_t *len)
{
	struct gmem_mt_range *r = b;

	*len = sizeof(*r);
	gmem_mt_hdr_init(&r->h, GMEM_MT_INVALIDATE, sizeof(*r), 0);
	r->id = 99;
	r->length = 4096;
}

static void mv_kick_queue(void *b, size_t *len)
{
	struct gmem_mt_kick *k = b;

	*len = sizeof(*k);
	gmem_mt_hdr_init(&k->h, GMEM_MT_KICK, sizeof(*k), 0);
	k->queue = 64;
}

static void mv_ack(void *b, size_t *len)
{
	struct gmem_mt_ack *a = b;

	*len = sizeof(*a);
	gmem_mt_hdr_init(&a->h, GMEM_MT_ACK, sizeof(*a), 0);
	a->seq = 1;
}

static const struct bad_vmm_msg bad_vmm_msgs[] = {
	{ "offset past the file", "runs past the file", EPROTO, 1, 0,
	  mv_past_file },
	{ "wrapping offset", "wraps around", EPROTO, 1, 0, mv_wraps },
	{ "fewer fds than entries", "came with 1 fds", EPROTO, 1, 0,
	  mv_count_mismatch },
	{ "too many fds", "more than 8 fds", EPROTO, 9, 0, mv_many_fds },
	{ "truncated frame", "truncated", EPROTO, 1, 0, mv_truncated },
	{ "a pipe as memory", "runs past the file", EPROTO, 1, 1,
	  mv_past_file },
	{ "writable claim on a read-only fd", "mmap", EPROTO, 1, 2,
	  mv_write_ro },
	{ "unknown entry flags", "unknown flags", EPROTO, 1, 0,
	  mv_unknown_flags },
	{ "unaligned offset", "whole 4096-byte pages", EPROTO, 1, 0,
	  mv_unaligned },
	{ "invalidation of no entry", "not in the table", EPROTO, 0, 0,
	  mv_invalidate_unknown },
	{ "kick of queue 64", "queue 64", EPROTO, 0, 0, mv_kick_queue },
	{ "a device's message", "not one the VMM sends", EPROTO, 0, 0,
	  mv_ack },
};

static int make_fd(int kind, int *pipe_other)
{
	int fd = memfd_create("bad", MFD_CLOEXEC), p[2];
	char path[64];

	*pipe_other = -1;
	if (fd >= 0 && ftruncate(fd, (off_t)MIB) < 0) {
		close(fd);
		return -1;
	}
	if (kind == 1) {
		close(fd);
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		*pipe_other = p[1];
		return p[0];
	}
	if (kind == 2) {
		int ro;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ro = open(path, O_RDONLY | O_CLOEXEC);
		close(fd);
		return ro;
	}
	return fd;
}

/* A memtable on sv[1] with the VMM's side spoken by hand on sv[0]. */
static bool raw_vmm_open(struct raw *r, struct gmem_memtable **mt,
			 uint32_t major)
{
	struct gmem_memtable_args a = { .name = "victim",
					.timeout_ms = BOUND_MS };
	struct gmem_mt_hello h;
	int sv[2];

	if (seqpair(sv) < 0)
		return false;
	memset(r, 0, sizeof(*r));
	r->sock = sv[0];
	a.sock_fd = sv[1];
	hello_init(&h);
	h.major = (uint16_t)major;
	if (raw_send(r, &h, sizeof(h), NULL, 0) < 0)
		return false;
	if (gmem_memtable_open(&a, mt) < 0) {
		close(sv[1]);
		return false;
	}
	return true;
}

static void device_rejects_bad_vmm_messages(void)
{
	struct gmem_memtable_info mi;
	struct gmem_memtable *mt;
	struct raw r;
	int fds0 = t_count_fds(), type;

	/* A VMM of another major version: the handshake fails, cleanly. */
	CHECK(!raw_vmm_open(&r, &mt, 2));
	CHECK(strstr(gmem_last_error(), "version 2.0"));
	close(r.sock);
	CHECK(t_count_fds() == fds0);
	for (size_t i = 0; i < sizeof(bad_vmm_msgs) / sizeof(bad_vmm_msgs[0]);
	     i++) {
		const struct bad_vmm_msg *t = &bad_vmm_msgs[i];
		uint64_t buf[GMEM_MT_MAX_MSG / 8] = { 0 };
		int fds[GMEM_MT_MAX_FDS + 1], others[GMEM_MT_MAX_FDS + 1];
		uint64_t kicks;
		size_t len;
		int ret;

		CHECK(raw_vmm_open(&r, &mt, GMEM_MT_MAJOR));
		/* A good entry first, so the table has something to lose. */
		map_one(buf, &len, 0, 8192, 16 * MIB,
			GMEM_MT_READ | GMEM_MT_WRITE);
		((struct gmem_mt_map *)buf)->e[0].id = 1;
		CHECK((fds[0] = make_fd(0, &others[0])) >= 0);
		CHECK(raw_send(&r, buf, len, fds, 1) == 0);
		close(fds[0]);
		CHECK(gmem_memtable_process(mt, BOUND_MS, NULL) == 1);
		CHECK(gmem_memtable_translate(mt, 16 * MIB, 8192,
					      GMEM_MEMTABLE_WRITE));
		memset(buf, 0, sizeof(buf));
		t->make(buf, &len);
		for (unsigned int k = 0; k < t->nfds; k++)
			CHECK((fds[k] = make_fd(t->fd_kind, &others[k])) >= 0);
		((struct gmem_mt_hdr *)buf)->seq = ++r.seq;
		if (t->nfds > GMEM_MT_MAX_FDS) {
			union {
				char c[CMSG_SPACE(sizeof(int) *
						  (GMEM_MT_MAX_FDS + 1))];
				struct cmsghdr a;
			} u = { 0 };
			struct iovec iov = { buf, len };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
					     .msg_control = u.c,
					     .msg_controllen = sizeof(u.c) };
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * t->nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * t->nfds);
			CHECK(sendmsg(r.sock, &mh, 0) == (ssize_t)len);
		} else {
			CHECK(gmem_mt_send(r.sock, buf, len, fds, t->nfds,
					   BOUND_MS) == 0);
		}
		for (unsigned int k = 0; k < t->nfds; k++) {
			close(fds[k]);
			if (others[k] >= 0)
				close(others[k]);
		}
		ret = gmem_memtable_process(mt, BOUND_MS, &kicks);
		if (ret != -t->error ||
		    !strstr(gmem_last_error(), t->reason)) {
			t_fail(__FILE__, __LINE__, "%s: %d (%s)", t->name, ret,
			       gmem_last_error());
			return;
		}
		/* Everything is gone, the VMM was told why, and it stays so. */
		CHECK(!gmem_memtable_translate(mt, 16 * MIB, 8,
					       GMEM_MEMTABLE_READ));
		CHECK(gmem_memtable_info(mt, &mi) == 0 && mi.entries == 0);
		while ((type = raw_recv(&r)) == GMEM_MT_ACK ||
		       type == GMEM_MT_HELLO)
			;
		if (type != GMEM_MT_ERROR) {
			t_fail(__FILE__, __LINE__, "%s: the VMM got %d, not "
			       "ERROR", t->name, type);
			return;
		}
		CHECK(strstr(((struct gmem_mt_error *)r.buf)->reason,
			     t->reason));
		CHECK(gmem_memtable_process(mt, 0, NULL) < 0);
		CHECK_OK(gmem_memtable_close(mt));
		close(r.sock);
		if (t_count_fds() != fds0) {
			t_fail(__FILE__, __LINE__, "%s: %d fds, not %d",
			       t->name, t_count_fds(), fds0);
			return;
		}
	}
}

/* ---- why a device's table ends ---- */

/* A MAP of one 1 MiB memfd at guest 16 MiB, entry 1, from the raw VMM. */
static bool raw_map_one(struct raw *r)
{
	uint64_t buf[GMEM_MT_MAX_MSG / 8] = { 0 };
	int fd, other;
	size_t len;
	bool ok;

	map_one(buf, &len, 0, MIB, 16 * MIB, GMEM_MT_READ | GMEM_MT_WRITE);
	((struct gmem_mt_map *)buf)->e[0].id = 1;
	fd = make_fd(0, &other);
	if (fd < 0)
		return false;
	ok = raw_send(r, buf, len, &fd, 1) == 0;
	close(fd);
	return ok;
}

static bool raw_invalidate(struct raw *r)
{
	struct gmem_mt_range m = { .id = 1, .length = 4096 };

	gmem_mt_hdr_init(&m.h, GMEM_MT_INVALIDATE, sizeof(m), 0);
	return raw_send(r, &m, sizeof(m), NULL, 0) == 0;
}

/*
 * The device's end learns why its table is over, each reason with its own
 * error, and every later call returns the same: the VMM gave up on it
 * (with its reason), went away (before or after its last message), sent
 * more than a message may hold, or stopped reading what the device sends.
 */
static void device_hears_why_the_table_ends(void)
{
	struct gmem_memtable_args ma = { .name = "victim", .timeout_ms = 50 };
	uint64_t big[6000 / 8] = { 0 };
	struct gmem_mt_error e = { 0 };
	struct gmem_mt_hello h;
	struct gmem_memtable *mt;
	int fds0 = t_count_fds(), sv[2], ret = 0;
	struct raw r;

	/* The VMM gives up, saying why. */
	CHECK(raw_vmm_open(&r, &mt, GMEM_MT_MAJOR));
	gmem_mt_hdr_init(&e.h, GMEM_MT_ERROR, sizeof(e), 0);
	e.code = EIO;
	strcpy(e.reason, "out of patience");
	CHECK(raw_send(&r, &e, sizeof(e), NULL, 0) == 0);
	CHECK_ERR(gmem_memtable_process(mt, BOUND_MS, NULL), ECONNABORTED);
	CHECK(strstr(gmem_last_error(), "out of patience"));
	CHECK_ERR(gmem_memtable_process(mt, 0, NULL), ECONNABORTED);
	CHECK_OK(gmem_memtable_close(mt));
	close(r.sock);
	/* The VMM goes away. */
	CHECK(raw_vmm_open(&r, &mt, GMEM_MT_MAJOR));
	close(r.sock);
	CHECK_ERR(gmem_memtable_process(mt, BOUND_MS, NULL), ECONNRESET);
	CHECK_OK(gmem_memtable_close(mt));
	/* ...right after a message the device must acknowledge. */
	CHECK(raw_vmm_open(&r, &mt, GMEM_MT_MAJOR));
	/* (Its greeting read first: unread data would make it a reset.) */
	CHECK(raw_recv(&r) == GMEM_MT_HELLO);
	CHECK(raw_map_one(&r) && raw_invalidate(&r));
	close(r.sock);
	CHECK_ERR(gmem_memtable_process(mt, BOUND_MS, NULL), EPIPE);
	CHECK(strstr(gmem_last_error(), "sending ACK"));
	CHECK_OK(gmem_memtable_close(mt));
	/* ...or before the device's greeting could go out. */
	CHECK(seqpair(sv) == 0);
	close(sv[0]);
	ma.sock_fd = sv[1];
	CHECK_ERR(gmem_memtable_open(&ma, &mt), EPIPE);
	CHECK(strstr(gmem_last_error(), "sending HELLO"));
	close(sv[1]);
	/* A VMM that gives up, or sends too much, before its greeting. */
	for (int i = 0; i < 2; i++) {
		CHECK(seqpair(sv) == 0);
		memset(&r, 0, sizeof(r));
		r.sock = sv[0];
		if (i == 0) {
			CHECK(raw_send(&r, &e, sizeof(e), NULL, 0) == 0);
		} else {
			hello_init(&h);
			memcpy(big, &h, sizeof(h));
			((struct gmem_mt_hdr *)big)->size = sizeof(big);
			CHECK(raw_send(&r, big, sizeof(big), NULL, 0) == 0);
		}
		ma.sock_fd = sv[1];
		CHECK_ERR(gmem_memtable_open(&ma, &mt),
			  i == 0 ? ECONNABORTED : EMSGSIZE);
		close(sv[0]);
		close(sv[1]);
	}
	/* A message longer than the protocol allows. */
	CHECK(raw_vmm_open(&r, &mt, GMEM_MT_MAJOR));
	hello_init(&h);
	memcpy(big, &h, sizeof(h));
	((struct gmem_mt_hdr *)big)->size = sizeof(big);
	CHECK(raw_send(&r, big, sizeof(big), NULL, 0) == 0);
	CHECK_ERR(gmem_memtable_process(mt, BOUND_MS, NULL), EMSGSIZE);
	CHECK(strstr(gmem_last_error(), "longer than"));
	CHECK_OK(gmem_memtable_close(mt));
	close(r.sock);
	/*
	 * A VMM that stops reading: acknowledgements pile up on its end
	 * until one cannot be sent within the device's timeout.
	 */
	CHECK(seqpair(sv) == 0);
	memset(&r, 0, sizeof(r));
	r.sock = sv[0];
	hello_init(&h);
	CHECK(raw_send(&r, &h, sizeof(h), NULL, 0) == 0);
	ma.sock_fd = sv[1];
	CHECK_OK(gmem_memtable_open(&ma, &mt));
	CHECK(raw_map_one(&r));
	CHECK(gmem_memtable_process(mt, BOUND_MS, NULL) == 1);
	/* Bad requests of a translation are refused, the table unharmed. */
	CHECK(!gmem_memtable_translate(mt, 16 * MIB, 0, GMEM_MEMTABLE_READ));
	CHECK(!gmem_memtable_translate(mt, 16 * MIB, 8, 0));
	CHECK(!gmem_memtable_translate(mt, 16 * MIB, 8, 1U << 5));
	CHECK(gmem_memtable_translate(mt, 16 * MIB, 8, GMEM_MEMTABLE_READ));
	for (int i = 0; i < 5000 && ret >= 0; i++) {
		CHECK(raw_invalidate(&r));
		ret = gmem_memtable_process(mt, BOUND_MS, NULL);
	}
	CHECK(ret == -ETIMEDOUT && strstr(gmem_last_error(), "sending ACK"));
	CHECK_ERR(gmem_memtable_process(mt, 0, NULL), ETIMEDOUT);
	CHECK_OK(gmem_memtable_close(mt));
	close(r.sock);
	CHECK(t_count_fds() == fds0);
}

/* ---- read-only devices ---- */

static void read_only_device(void)
{
	struct gmem_devproc_info info;
	struct gmem_binding *b;
	struct gmem_devproc *d;
	struct gmem_file *f;
	struct gmem_vm *vm;
	struct gmem_mt_hello h;
	struct gmem_mt_map *m;
	struct raw r = { 0 };
	struct client c;
	int sv[2];
	void *p;

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&vm));
	CHECK(f = memfd_file(2 * MIB));
	CHECK(b = bind_at(vm, f, 0, 2 * MIB, 0));
	/* The library's device side: reads, and refuses to hand out writes. */
	CHECK(seqpair(sv) == 0);
	CHECK(d = add_device(vm, sv[0], BOUND_MS, GMEM_DEVPROC_READ_ONLY));
	CHECK_OK(client_start(&c, sv[1]));
	CHECK(WAIT_FOR(client_info(&c).entries == 1));
	CHECK(client_translate(&c, 0, 4096, GMEM_MEMTABLE_READ));
	CHECK(!client_translate(&c, 0, 4096, GMEM_MEMTABLE_WRITE));
	CHECK(errno == EACCES);
	CHECK(strstr(gmem_last_error(), "read-only"));
	CHECK_OK(gmem_devproc_remove(d));
	client_stop(&c);
	/* A device that ignores the flag: the kernel says no. */
	CHECK(seqpair(sv) == 0);
	r.sock = sv[1];
	hello_init(&h);
	CHECK(raw_send(&r, &h, sizeof(h), NULL, 0) == 0);
	CHECK(d = add_device(vm, sv[0], BOUND_MS, GMEM_DEVPROC_READ_ONLY));
	CHECK(raw_recv(&r) == GMEM_MT_HELLO);
	CHECK(raw_recv(&r) == GMEM_MT_MAP && r.nfds == 1);
	m = (struct gmem_mt_map *)r.buf;
	CHECK(m->e[0].flags == GMEM_MT_READ);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, r.fds[0], 0);
	CHECK(p == MAP_FAILED && errno == EACCES);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, r.fds[0], 0);
	CHECK(p != MAP_FAILED);
	munmap(p, 4096);
	close(r.fds[0]);
	CHECK(devproc_status(d, &info) != GMEM_DEVPROC_FAILED);
	close(sv[1]);
	CHECK_OK(gmem_devproc_remove(d));
	CHECK_OK(gmem_vm_close(vm));
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(f));
}

/* guest_memfd cannot be reopened read-only: a read-only device goes without. */
static void read_only_device_withheld_guest_memfd(void)
{
	struct gmem_file_args fa = { .size = 2 * MIB,
				     .backend = GMEM_BACKEND_GUEST_MEMFD };
	struct gmem_devproc_info info;
	struct gmem_binding *b, *b2;
	struct gmem_devproc *d;
	struct gmem_file *f, *g;
	struct gmem_vm *vm;
	struct client c;
	int sv[2];

	T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	CHECK_OK(gmem_vm_create(&vm));
	fa.vm = vm;
	CHECK_OK(gmem_file_create(&fa, &f));
	CHECK(g = memfd_file(2 * MIB));
	CHECK(b = bind_at(vm, f, 0, 2 * MIB, 0));
	CHECK(b2 = bind_at(vm, g, 0, 2 * MIB, GIB));
	CHECK(seqpair(sv) == 0);
	CHECK(d = add_device(vm, sv[0], BOUND_MS, GMEM_DEVPROC_READ_ONLY));
	CHECK_OK(client_start(&c, sv[1]));
	CHECK(WAIT_FOR(client_info(&c).entries == 1));
	CHECK(devproc_status(d, &info) == GMEM_DEVPROC_CONNECTED);
	CHECK(info.withheld == 1 && info.entries == 1);
	CHECK(!client_translate(&c, 0, 4096, GMEM_MEMTABLE_READ));
	CHECK(client_translate(&c, GIB, 4096, GMEM_MEMTABLE_READ));
	/* Discards of the withheld file wait for nobody. */
	CHECK_OK(gmem_discard(f, 0, 4096));
	CHECK(devproc_status(d, &info) == GMEM_DEVPROC_CONNECTED &&
	      info.invalidations == 0);
	CHECK_OK(gmem_devproc_remove(d));
	client_stop(&c);
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_unbind(b2));
	CHECK_OK(gmem_file_close(f));
	CHECK_OK(gmem_file_close(g));
	CHECK_OK(gmem_vm_close(vm));
}

/* ---- conversions to private ---- */

static void conversion_to_private_waits_for_the_device(void)
{
	struct gmem_file_args pa = { .size = 2 * MIB,
				     .backend = GMEM_BACKEND_GUEST_MEMFD,
				     .flags = GMEM_FILE_PRIVATE };
	struct gmem_bind_args ba = { .length = 2 * MIB,
				     .slot = GMEM_SLOT_ANY };
	struct gmem_devproc_info info;
	struct gmem_file *shared, *priv;
	struct gmem_binding *b;
	struct gmem_devproc *d;
	struct gmem_vm *vm;
	struct client c;
	int sv[2];

	T_SKIP_UNLESS(t_need_private());
	CHECK_OK(gmem_vm_create_type(GMEM_VM_TYPE_SW_PROTECTED, &vm));
	CHECK(shared = memfd_file(2 * MIB));
	pa.vm = vm;
	CHECK_OK(gmem_file_create(&pa, &priv));
	ba.private_file = priv;
	CHECK_OK(gmem_bind(vm, shared, &ba, &b));
	CHECK(seqpair(sv) == 0);
	CHECK(d = add_device(vm, sv[0], BOUND_MS, 0));
	CHECK_OK(client_start(&c, sv[1]));
	CHECK(WAIT_FOR(client_info(&c).entries == 1));
	CHECK(client_translate(&c, 4096, 4096, GMEM_MEMTABLE_WRITE));
	/* To private: the device let go before the conversion returned. */
	CHECK_OK(gmem_convert(vm, 4096, 4096, GMEM_MEMORY_PRIVATE, 0));
	CHECK(!client_translate(&c, 4096, 8, GMEM_MEMTABLE_READ));
	CHECK(client_translate(&c, 0, 4096, GMEM_MEMTABLE_READ));
	CHECK(client_translate(&c, 8192, 4096, GMEM_MEMTABLE_READ));
	devproc_status(d, &info);
	CHECK(info.invalidations == 1);
	/* Back to shared: usable again once the message is in. */
	CHECK_OK(gmem_convert(vm, 4096, 4096, GMEM_MEMORY_SHARED, 0));
	CHECK(WAIT_FOR(client_translate(&c, 4096, 8,
					GMEM_MEMTABLE_READ) != NULL));
	CHECK_OK(gmem_devproc_remove(d));
	client_stop(&c);
	/* A device that comes while part is private never sees that part. */
	CHECK_OK(gmem_convert(vm, 8192, 8192, GMEM_MEMORY_PRIVATE, 0));
	CHECK(seqpair(sv) == 0);
	CHECK(d = add_device(vm, sv[0], BOUND_MS, 0));
	CHECK_OK(client_start(&c, sv[1]));
	CHECK(WAIT_FOR(client_info(&c).entries == 1 &&
		       client_info(&c).invalid_bytes == 8192));
	CHECK(!client_translate(&c, 8192, 4096, GMEM_MEMTABLE_READ));
	CHECK(!client_translate(&c, 12288, 4096, GMEM_MEMTABLE_READ));
	CHECK(client_translate(&c, 0, 8192, GMEM_MEMTABLE_READ));
	CHECK(client_translate(&c, 16384, 2 * MIB - 16384,
			       GMEM_MEMTABLE_READ));
	CHECK_OK(gmem_devproc_remove(d));
	client_stop(&c);
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(shared));
	CHECK_OK(gmem_file_close(priv));
	CHECK_OK(gmem_vm_close(vm));
}

/* ---- bad arguments ---- */

static void bad_arguments(void)
{
	struct gmem_devproc_args a = { .sock_fd = -1 };
	struct gmem_memtable_args ma = { .sock_fd = -1 };
	struct gmem_memtable *mt;
	struct gmem_devproc *d;
	struct gmem_vm *vm;
	int sv[2];

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&vm));
	CHECK_ERR(gmem_devproc_add(NULL, &a, &d), EINVAL);
	CHECK_ERR(gmem_devproc_add(vm, &a, &d), EBADF);
	CHECK_ERR(gmem_memtable_open(&ma, &mt), EBADF);
	/* Open, but not a socket. */
	CHECK(pipe(sv) == 0);
	a.sock_fd = sv[0];
	CHECK_ERR(gmem_devproc_add(vm, &a, &d), ENOTSOCK);
	ma.sock_fd = sv[0];
	CHECK_ERR(gmem_memtable_open(&ma, &mt), ENOTSOCK);
	close(sv[0]);
	close(sv[1]);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	a.sock_fd = sv[0];
	CHECK_ERR(gmem_devproc_add(vm, &a, &d), EPROTOTYPE);
	ma.sock_fd = sv[1];
	CHECK_ERR(gmem_memtable_open(&ma, &mt), EPROTOTYPE);
	close(sv[0]);
	close(sv[1]);
	CHECK(seqpair(sv) == 0);
	a.sock_fd = sv[0];
	a.flags = 0x100;
	CHECK_ERR(gmem_devproc_add(vm, &a, &d), EINVAL);
	a.flags = 0;
	a.reserved[1] = 1;
	CHECK_ERR(gmem_devproc_add(vm, &a, &d), EINVAL);
	a.reserved[1] = 0;
	ma.sock_fd = sv[1];
	ma.flags = 1;
	CHECK_ERR(gmem_memtable_open(&ma, &mt), EINVAL);
	ma.flags = 0;
	ma.reserved[2] = 1;
	CHECK_ERR(gmem_memtable_open(&ma, &mt), EINVAL);
	ma.reserved[2] = 0;
	CHECK_ERR(gmem_memtable_open(NULL, &mt), EINVAL);
	CHECK_ERR(gmem_memtable_open(&ma, NULL), EINVAL);
	CHECK_ERR(gmem_devproc_add(vm, NULL, &d), EINVAL);
	CHECK_ERR(gmem_devproc_add(vm, &a, NULL), EINVAL);
	/* No VMM answers: the handshake gives up after its timeout. */
	ma.timeout_ms = 50;
	CHECK_ERR(gmem_memtable_open(&ma, &mt), ETIMEDOUT);
	CHECK_ERR(gmem_devproc_notify(NULL, 0), EINVAL);
	CHECK_ERR(gmem_devproc_remove(NULL), EINVAL);
	CHECK(gmem_memtable_translate(NULL, 0, 8, GMEM_MEMTABLE_READ) == NULL);
	CHECK(errno == EINVAL);
	CHECK_ERR(gmem_memtable_process(NULL, 0, NULL), EINVAL);
	CHECK_ERR(gmem_memtable_fd(NULL), EINVAL);
	CHECK_ERR(gmem_memtable_info(NULL, NULL), EINVAL);
	CHECK_ERR(gmem_memtable_close(NULL), EINVAL);
	CHECK_ERR(gmem_devproc_state(NULL, 0, NULL), EINVAL);
	/* No device answers: it fails after its timeout, and says so. */
	close(sv[0]);
	close(sv[1]);
	CHECK(seqpair(sv) == 0);
	a.sock_fd = sv[0];
	a.timeout_ms = 50;
	CHECK_OK(gmem_devproc_add(vm, &a, &d));
	CHECK_ERR(gmem_devproc_notify(d, 64), EINVAL);
	CHECK_ERR(gmem_devproc_state(d, 0, NULL), EINVAL);
	{
		struct gmem_devproc_info info;

		CHECK(gmem_devproc_state(d, BOUND_MS, &info) ==
		      GMEM_DEVPROC_FAILED);
		CHECK(info.error == ETIMEDOUT && strstr(info.reason,
							"no HELLO"));
	}
	CHECK_OK(gmem_devproc_remove(d));
	close(sv[1]);
	/*
	 * No descriptor left for the eventfd that wakes its thread: reported
	 * as out of memory (the reason names the eventfd).
	 */
	CHECK(seqpair(sv) == 0);
	a.sock_fd = sv[0];
	{
		struct rlimit rl;

		CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
		if (rl.rlim_cur > 256)
			rl.rlim_cur = 256;
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
		while (open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0)
			;
	}
	CHECK_ERR(gmem_devproc_add(vm, &a, &d), ENOMEM);
	CHECK(strstr(gmem_last_error(), "eventfd"));
	CHECK_OK(gmem_vm_close(vm));
}

static const struct t_case cases[] = {
	T_CASE(table_follows_bindings),
	T_CASE(remove_then_close),
	T_CASE(guest_uses_device_memfd),
	T_CASE(guest_uses_device_guest_memfd),
	T_CASE(discard_while_device_busy),
	T_CASE(stale_pointer_faults_in_the_device),
	T_CASE(lying_device_is_caught),
	T_CASE(device_that_stops_answering_times_out),
	T_CASE(device_dies_mid_protocol),
	T_CASE(vmm_rejects_bad_device_messages),
	T_CASE(device_rejects_bad_vmm_messages),
	T_CASE(device_hears_why_the_table_ends),
	T_CASE(read_only_device),
	T_CASE(read_only_device_withheld_guest_memfd),
	T_CASE(conversion_to_private_waits_for_the_device),
	T_CASE(bad_arguments),
};
T_MAIN(cases)
