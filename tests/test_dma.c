// SPDX-License-Identifier: MIT
/*
 * test_dma.c - a real device doing real DMA into libgmem memory: QEMU's
 * edu device in the emulated machine, behind intel-iommu, through VFIO
 * type1 and through iommufd.  The data the device moves is the proof: it
 * lands byte-exact while mapped, never reads old bytes or writes an old
 * page after a discard or a conversion to private, and works again after
 * populate or a conversion back; the kernel's own answers (a taken IOVA,
 * pinned-page counts, fds) show what stays mapped after every close order.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dma_uapi.h"
#include "harness.h"
#include "internal.h"	/* sizeof(struct gmem_binding) only */

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define PAGE (4 * KIB)

/* edu masks DMA addresses to 28 bits: every IOVA stays below 256 MiB. */
#define GPA (4 * MIB)
#define LEN (4 * MIB)			/* two 2 MiB blocks of mappings */

/*
 * QEMU's edu (hw/misc/edu.c): registers in BAR0; a 4 KiB buffer the DMA
 * engine sees at 0x40000; the command register's bit 0 is the DMA's
 * status (set to start, cleared by the device when done), bit 1 the
 * direction (set: buffer to RAM).  QEMU 7.2 aborts on a 4096-byte count.
 */
#define EDU_ID 0x00
#define EDU_ID_VALUE 0x010000edu
#define EDU_SRC 0x80
#define EDU_DST 0x88
#define EDU_CNT 0x90
#define EDU_CMD 0x98
#define EDU_CMD_RUN 0x1u
#define EDU_CMD_TO_RAM 0x2u
#define EDU_BUF 0x40000u
#define XFER 0xf00u
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2u
#define PCI_COMMAND_MASTER 0x4u
/* Only to turn a hung device into a failure: a DMA takes ~100 ms. */
#define DMA_BOUND_MS 30000

/* edu through VFIO: a type1 container or an iommufd IOAS. */
struct dev {
	bool iommufd;
	int fd;				/* container or iommufd */
	int group;
	int dev;
	uint32_t ioas;
	uint64_t bar0, cfg;
	uint8_t *scratch;		/* a page the test maps itself */
	int scratch_fd;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int region(int dev, uint32_t index, uint64_t *off)
{
	struct gmem_vfio_region_info ri = { .argsz = sizeof(ri),
					    .index = index };

	if (ioctl(dev, GMEM_VFIO_DEVICE_GET_REGION_INFO, &ri) < 0)
		return -errno;
	*off = ri.offset;
	return 0;
}

static int edu_rd(struct dev *v, uint32_t reg, uint32_t *val)
{
	return pread(v->dev, val, 4, (off_t)(v->bar0 + reg)) == 4 ? 0 : -1;
}

static int edu_wr(struct dev *v, uint32_t reg, uint32_t val)
{
	return pwrite(v->dev, &val, 4, (off_t)(v->bar0 + reg)) == 4 ? 0 : -1;
}

/* Bus master on (vfio-pci leaves it off), and edu answers. */
static bool edu_start(struct dev *v)
{
	uint16_t cmd = 0;
	uint32_t id = 0;

	if (region(v->dev, GMEM_VFIO_PCI_BAR0_REGION_INDEX, &v->bar0) < 0 ||
	    region(v->dev, GMEM_VFIO_PCI_CONFIG_REGION_INDEX, &v->cfg) < 0 ||
	    pread(v->dev, &cmd, 2, (off_t)(v->cfg + PCI_COMMAND)) != 2) {
		t_fail(__FILE__, __LINE__, "edu regions: %s", strerror(errno));
		return false;
	}
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(v->dev, &cmd, 2, (off_t)(v->cfg + PCI_COMMAND)) != 2 ||
	    edu_rd(v, EDU_ID, &id) < 0 || id != EDU_ID_VALUE) {
		t_fail(__FILE__, __LINE__, "edu: bus master or id (0x%x): %s",
		       id, strerror(errno));
		return false;
	}
	return true;
}

static bool open_type1(struct dev *v, const struct t_edu *e)
{
	struct gmem_vfio_group_status st = { .argsz = sizeof(st) };

	v->fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	v->group = open(e->group, O_RDWR | O_CLOEXEC);
	if (v->fd < 0 || v->group < 0 ||
	    ioctl(v->group, GMEM_VFIO_GROUP_GET_STATUS, &st) < 0 ||
	    !(st.flags & GMEM_VFIO_GROUP_FLAGS_VIABLE) ||
	    ioctl(v->group, GMEM_VFIO_GROUP_SET_CONTAINER, &v->fd) < 0 ||
	    ioctl(v->fd, GMEM_VFIO_SET_IOMMU, GMEM_VFIO_TYPE1v2_IOMMU) < 0) {
		t_fail(__FILE__, __LINE__, "VFIO type1 set-up of %s: %s",
		       e->group, strerror(errno));
		return false;
	}
	v->dev = ioctl(v->group, GMEM_VFIO_GROUP_GET_DEVICE_FD, e->bdf);
	if (v->dev < 0) {
		t_fail(__FILE__, __LINE__, "VFIO_GROUP_GET_DEVICE_FD(%s): %s",
		       e->bdf, strerror(errno));
		return false;
	}
	return true;
}

static bool open_iommufd(struct dev *v, const struct t_edu *e)
{
	struct gmem_vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct gmem_vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct gmem_iommu_ioas_alloc a = { .size = sizeof(a) };

	v->fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	v->dev = open(e->cdev, O_RDWR | O_CLOEXEC);
	bind.iommufd = v->fd;
	if (v->fd < 0 || v->dev < 0 ||
	    ioctl(v->dev, GMEM_VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0 ||
	    ioctl(v->fd, GMEM_IOMMU_IOAS_ALLOC, &a) < 0) {
		t_fail(__FILE__, __LINE__, "iommufd set-up of %s: %s",
		       e->cdev, strerror(errno));
		return false;
	}
	v->ioas = a.out_ioas_id;
	at.pt_id = v->ioas;
	if (ioctl(v->dev, GMEM_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) < 0) {
		t_fail(__FILE__, __LINE__, "VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s",
		       strerror(errno));
		return false;
	}
	return true;
}

static bool dev_open(struct dev *v, bool iommufd)
{
	struct t_edu e;

	memset(v, 0, sizeof(*v));
	v->fd = v->group = v->dev = v->scratch_fd = -1;
	v->iommufd = iommufd;
	if (!t_need_edu(iommufd, &e))
		return false;
	if (!(iommufd ? open_iommufd(v, &e) : open_type1(v, &e)))
		return false;
	v->scratch_fd = memfd_create("test-dma-scratch", MFD_CLOEXEC);
	if (v->scratch_fd < 0 || ftruncate(v->scratch_fd, PAGE) < 0)
		return false;
	v->scratch = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
			  v->scratch_fd, 0);
	if (v->scratch == MAP_FAILED) {
		t_fail(__FILE__, __LINE__, "mmap: %s", strerror(errno));
		return false;
	}
	return edu_start(v);
}

static void dev_close(struct dev *v)
{
	if (v->scratch && v->scratch != MAP_FAILED)
		munmap(v->scratch, PAGE);
	if (v->scratch_fd >= 0)
		close(v->scratch_fd);
	if (v->dev >= 0)
		close(v->dev);
	if (v->group >= 0)
		close(v->group);
	if (v->fd >= 0)
		close(v->fd);
}

static int dma_open(struct dev *v, struct gmem_vm *vm, struct gmem_dma **d)
{
	return v->iommufd ? gmem_dma_open_iommufd(vm, v->fd, v->ioas, d)
			  : gmem_dma_open_vfio(vm, v->fd, d);
}

/* The test's own mapping of addr at iova, as a VMM would make one. */
static int raw_map(struct dev *v, uint64_t iova, void *addr, uint64_t len)
{
	struct gmem_vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = GMEM_VFIO_DMA_MAP_FLAG_READ |
			 GMEM_VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)addr, .iova = iova, .size = len,
	};
	struct gmem_iommu_ioas_map im = {
		.size = sizeof(im),
		.flags = GMEM_IOMMU_IOAS_MAP_FIXED_IOVA |
			 GMEM_IOMMU_IOAS_MAP_READABLE |
			 GMEM_IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = v->ioas, .user_va = (uintptr_t)addr,
		.length = len, .iova = iova,
	};
	int ret = v->iommufd ? ioctl(v->fd, GMEM_IOMMU_IOAS_MAP, &im)
			     : ioctl(v->fd, GMEM_VFIO_IOMMU_MAP_DMA, &m);

	return ret < 0 ? -errno : 0;
}

static int raw_unmap(struct dev *v, uint64_t iova, uint64_t len)
{
	struct gmem_vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u), .iova = iova, .size = len,
	};
	struct gmem_iommu_ioas_unmap iu = {
		.size = sizeof(iu), .ioas_id = v->ioas, .iova = iova,
		.length = len,
	};
	int ret = v->iommufd ? ioctl(v->fd, GMEM_IOMMU_IOAS_UNMAP, &iu)
			     : ioctl(v->fd, GMEM_VFIO_IOMMU_UNMAP_DMA, &u);

	return ret < 0 ? -errno : 0;
}

/*
 * The kernel's own answer to "is this IOVA page mapped?": a mapping of our
 * scratch page there is refused with EEXIST exactly when something is.
 * 1 mapped, 0 not, -errno when the kernel says something else.
 */
static int iova_mapped(struct dev *v, uint64_t iova)
{
	int ret = raw_map(v, iova, v->scratch, PAGE);

	if (ret == -EEXIST)
		return 1;
	if (ret < 0)
		return ret;
	ret = raw_unmap(v, iova, PAGE);
	return ret < 0 ? ret : 0;
}

/* One DMA of XFER bytes, its status register polled until it is done. */
static int edu_dma(struct dev *v, uint32_t src, uint32_t dst, bool to_ram)
{
	double start = now_ms();
	uint32_t cmd;

	if (edu_wr(v, EDU_SRC, src) || edu_wr(v, EDU_DST, dst) ||
	    edu_wr(v, EDU_CNT, XFER) ||
	    edu_wr(v, EDU_CMD, EDU_CMD_RUN | (to_ram ? EDU_CMD_TO_RAM : 0)))
		return -errno;
	do {
		if (edu_rd(v, EDU_CMD, &cmd) < 0)
			return -errno;
		if (!(cmd & EDU_CMD_RUN))
			return 0;
		usleep(2000);
	} while (now_ms() - start < DMA_BOUND_MS);
	return -ETIMEDOUT;
}

/* RAM at iova into edu's buffer, and the buffer into RAM at iova. */
#define TO_DEV(v, iova) CHECK(edu_dma(v, (uint32_t)(iova), EDU_BUF, false) == 0)
#define TO_RAM(v, iova) CHECK(edu_dma(v, EDU_BUF, (uint32_t)(iova), true) == 0)

static void fill(uint8_t *p, uint8_t seed)
{
	for (uint32_t i = 0; i < XFER; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static bool same(const uint8_t *p, uint8_t seed)
{
	for (uint32_t i = 0; i < XFER; i++)
		if (p[i] != (uint8_t)(seed + i * 7))
			return false;
	return true;
}

static bool all(const uint8_t *p, uint8_t byte, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != byte)
			return false;
	return true;
}

/* The latest DMAR fault line seen by dmar_faults(). */
static char dmar_last[256];

/* DMAR fault lines in the kernel log (rate-limited: 10 lines per 5 s). */
static int dmar_faults(void)
{
	int size = klogctl(10, NULL, 0), n = 0;
	char *buf, *line, *save = NULL;

	if (size <= 0 || !(buf = malloc((size_t)size + 1)))
		return -1;
	size = klogctl(3, buf, size);
	if (size < 0) {
		free(buf);
		return -1;
	}
	buf[size] = '\0';
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (strstr(line, "DMAR") && strstr(line, "fault addr")) {
			snprintf(dmar_last, sizeof(dmar_last), "%s", line);
			n++;
		}
	free(buf);
	return n;
}

/* Pinned memory this process holds, as the kernel counts it (KiB). */
static long pinned_kib(void)
{
	char line[256];
	long v, sum = 0;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if ((sscanf(line, "VmLck: %ld", &v) == 1) ||
		    (sscanf(line, "VmPin: %ld", &v) == 1))
			sum += v;
	if (f)
		fclose(f);
	return sum;
}

/* ---- guest memory ---- */

struct mem {
	struct gmem_vm *vm;
	struct gmem_file *f;
	struct gmem_binding *b;
	uint8_t *host;
};

static int make_file_len(struct gmem_vm *vm, enum gmem_backend be,
			 uint32_t flags, uint64_t len, struct gmem_file **f)
{
	struct gmem_file_args a = { .size = len, .backend = be,
				    .flags = flags, .vm = vm };

	return gmem_file_create(&a, f);
}

static int make_file(struct gmem_vm *vm, enum gmem_backend be, uint32_t flags,
		     struct gmem_file **f)
{
	return make_file_len(vm, be, flags, LEN, f);
}

static int bind_len(struct gmem_vm *vm, struct gmem_file *f,
		    struct gmem_file *priv, uint64_t len,
		    struct gmem_binding **b)
{
	struct gmem_bind_args a = { .length = len, .gpa = GPA,
				    .slot = GMEM_SLOT_ANY,
				    .private_file = priv };

	return gmem_bind(vm, f, &a, b);
}

static int bind_at(struct gmem_vm *vm, struct gmem_file *f,
		   struct gmem_file *priv, struct gmem_binding **b)
{
	return bind_len(vm, f, priv, LEN, b);
}

/* A default VM with len of be bound at GPA, populated. */
static bool mem_make_len(struct mem *m, enum gmem_backend be, uint64_t len)
{
	memset(m, 0, sizeof(*m));
	if (gmem_vm_create(&m->vm) < 0 ||
	    make_file_len(m->vm, be, 0, len, &m->f) < 0 ||
	    bind_len(m->vm, m->f, NULL, len, &m->b) < 0 ||
	    gmem_populate(m->f, 0, len) < 0) {
		t_fail(__FILE__, __LINE__, "guest memory: %s",
		       gmem_last_error());
		return false;
	}
	m->host = gmem_file_host_addr(m->f);
	return true;
}

static bool mem_make(struct mem *m, enum gmem_backend be)
{
	return mem_make_len(m, be, LEN);
}

static void mem_free(struct mem *m)
{
	if (m->b)
		gmem_unbind(m->b);
	if (m->f)
		gmem_file_close(m->f);
	if (m->vm)
		gmem_vm_close(m->vm);
}

static uint64_t iova_of(unsigned int page)
{
	return GPA + (uint64_t)page * PAGE;
}

#define HOST(m, page) ((m)->host + (uint64_t)(page) * PAGE)

/*
 * Pages the cases use: X is discarded or converted; N shares its mapping;
 * S and Y are elsewhere (a source and a destination).
 */
enum { X = 3, N = 4, S = 8, Y = 9 };

static bool setup(struct dev *v, bool iommufd, struct mem *m,
		  enum gmem_backend be, struct gmem_dma **d)
{
	if (!dev_open(v, iommufd) || !mem_make(m, be))
		return false;
	if (dma_open(v, m->vm, d) < 0 || gmem_dma_map(*d, m->b) < 0) {
		t_fail(__FILE__, __LINE__, "dma: %s", gmem_last_error());
		return false;
	}
	return true;
}

#define DMA_STATS(d, st)						\
	do {								\
		CHECK_OK(gmem_dma_stats(d, &(st)));			\
	} while (0)

/* ---- (1) the round trip ---- */

static void roundtrip(bool iommufd, enum gmem_backend be)
{
	long pinned0 = pinned_kib(), pinned1;
	struct gmem_dma_stats st;
	struct gmem_dma *d = NULL;
	double t0, t1;
	struct dev v;
	struct mem m;

	if (be == GMEM_BACKEND_HUGETLB &&
	    !t_hugepool_set(2 * MIB, LEN / (2 * MIB)))
		return;
	if (!dev_open(&v, iommufd) || !mem_make(&m, be))
		return;
	CHECK_OK(dma_open(&v, m.vm, &d));
	t0 = now_ms();
	CHECK_OK(gmem_dma_map(d, m.b));
	t1 = now_ms();
	pinned1 = pinned_kib();
	DMA_STATS(d, st);
	printf("  %s %s: mapped 0x%llx bytes in %llu mappings (%.1f ms), by "
	       "file 0x%llx, by address 0x%llx, MAP_FILE refused %llu; "
	       "pinned %ld -> %ld KiB\n", iommufd ? "iommufd" : "type1",
	       gmem_backend_name(be), (unsigned long long)st.mapped_bytes,
	       (unsigned long long)st.mappings, t1 - t0,
	       (unsigned long long)st.by_file_bytes,
	       (unsigned long long)st.by_address_bytes,
	       (unsigned long long)st.by_file_refused, pinned0, pinned1);
	CHECK(st.path == (iommufd ? GMEM_DMA_IOMMUFD : GMEM_DMA_VFIO_TYPE1));
	CHECK(st.bindings == 1 && st.mapped_bytes == LEN);
	CHECK(st.mappings == LEN / (2 * MIB) && st.map_calls == st.mappings);
	CHECK(st.missing_bytes == 0 && st.failed_calls == 0);
	/* iommufd takes memfd and hugetlb by fd; guest_memfd by address. */
	if (iommufd && be != GMEM_BACKEND_GUEST_MEMFD)
		CHECK(st.by_file_bytes == LEN && st.by_file_refused == 0);
	else
		CHECK(st.by_address_bytes == LEN);
	if (iommufd && be == GMEM_BACKEND_GUEST_MEMFD)
		CHECK(st.by_file_refused == 1);
	/* The kernel pinned exactly what the books say. */
	CHECK((uint64_t)(pinned1 - pinned0) * KIB == LEN);
	CHECK(iova_mapped(&v, iova_of(0)) == 1);
	CHECK(iova_mapped(&v, iova_of(LEN / PAGE - 1)) == 1);
	CHECK(iova_mapped(&v, GPA + LEN) == 0);

	/* Page 0 to the device and back into page 1, byte-exact. */
	fill(HOST(&m, 0), 0x31);
	memset(HOST(&m, 1), 0, PAGE);
	t0 = now_ms();
	TO_DEV(&v, iova_of(0));
	TO_RAM(&v, iova_of(1));
	t1 = now_ms();
	CHECK(same(HOST(&m, 1), 0x31));
	/* And the last page, in the other mapping. */
	fill(HOST(&m, LEN / PAGE - 2), 0x32);
	TO_DEV(&v, iova_of(LEN / PAGE - 2));
	TO_RAM(&v, iova_of(LEN / PAGE - 1));
	CHECK(same(HOST(&m, LEN / PAGE - 1), 0x32));
	printf("  two DMAs of 0x%x bytes: %.0f ms\n", XFER, t1 - t0);

	CHECK_OK(gmem_dma_close(d));
	CHECK(pinned_kib() == pinned0);
	CHECK(iova_mapped(&v, iova_of(0)) == 0);
	mem_free(&m);
	dev_close(&v);
}

static void roundtrip_type1_memfd(void)
{
	roundtrip(false, GMEM_BACKEND_MEMFD);
}

static void roundtrip_type1_guest_memfd(void)
{
	roundtrip(false, GMEM_BACKEND_GUEST_MEMFD);
}

static void roundtrip_iommufd_memfd(void)
{
	roundtrip(true, GMEM_BACKEND_MEMFD);
}

static void roundtrip_iommufd_guest_memfd(void)
{
	roundtrip(true, GMEM_BACKEND_GUEST_MEMFD);
}

static void roundtrip_type1_hugetlb(void)
{
	roundtrip(false, GMEM_BACKEND_HUGETLB);
}

static void roundtrip_iommufd_hugetlb(void)
{
	roundtrip(true, GMEM_BACKEND_HUGETLB);
}

/*
 * Pages populated but never touched: shmem's fallocate leaves them
 * unwritten, and a mapping by file pins them as they are.  The device
 * must read zeros there, and what it writes must survive the host's first
 * touch (which zeroes an unwritten page).
 */
static void untouched_pages(bool iommufd)
{
	enum { R = 100, Q = 101 };
	struct gmem_dma *d = NULL;
	struct dev v;
	struct mem m;

	if (!setup(&v, iommufd, &m, GMEM_BACKEND_MEMFD, &d))
		return;
	fill(HOST(&m, S), 0x71);
	TO_DEV(&v, iova_of(S));
	TO_RAM(&v, iova_of(Q));
	CHECK(same(HOST(&m, Q), 0x71));
	TO_DEV(&v, iova_of(R));
	TO_RAM(&v, iova_of(S));
	CHECK(all(HOST(&m, S), 0, XFER));
	/* The same after a discard and a populate bring a new page. */
	CHECK_OK(gmem_discard(m.f, Q * PAGE, PAGE));
	CHECK_OK(gmem_populate(m.f, Q * PAGE, PAGE));
	fill(HOST(&m, S), 0x72);
	TO_DEV(&v, iova_of(S));
	TO_RAM(&v, iova_of(Q));
	CHECK(same(HOST(&m, Q), 0x72));
	CHECK_OK(gmem_dma_close(d));
	mem_free(&m);
	dev_close(&v);
}

static void untouched_pages_type1_memfd(void)
{
	untouched_pages(false);
}

static void untouched_pages_iommufd_memfd(void)
{
	untouched_pages(true);
}

/* ---- (2) discard unmaps first, (3) populate maps again ---- */

/*
 * After X is discarded the device must never read its old bytes, never
 * write where anyone could see it, and still reach N; after populate it
 * sees X's new page.
 */

static void discard_then_populate(bool iommufd, enum gmem_backend be)
{
	struct gmem_dma_stats st0, st;
	struct gmem_dma *d = NULL;
	int faults0, faults1;
	struct dev v;
	struct mem m;

	if (!setup(&v, iommufd, &m, be, &d))
		return;
	fill(HOST(&m, X), 0xa1);
	TO_DEV(&v, iova_of(X));
	TO_RAM(&v, iova_of(Y));
	CHECK(same(HOST(&m, Y), 0xa1));
	DMA_STATS(d, st0);

	CHECK_OK(gmem_discard(m.f, X * PAGE, PAGE));
	DMA_STATS(d, st);
	/* One mapping gone whole, its two parts that stay mapped back. */
	CHECK(st.mapped_bytes == LEN - PAGE);
	CHECK(st.mappings == st0.mappings + 1);
	CHECK(st.unmap_calls == st0.unmap_calls + 1);
	CHECK(st.map_calls == st0.map_calls + 2);
	CHECK(all(HOST(&m, X), 0, PAGE));
	CHECK(iova_mapped(&v, iova_of(X)) == 0);
	CHECK(iova_mapped(&v, iova_of(X - 1)) == 1);
	CHECK(iova_mapped(&v, iova_of(N)) == 1);

	/* A read of X: the buffer keeps the sentinel (or zeros), never 0xa1. */
	faults0 = dmar_faults();
	fill(HOST(&m, S), 0x5e);
	TO_DEV(&v, iova_of(S));
	TO_DEV(&v, iova_of(X));
	memset(HOST(&m, Y), 0xee, PAGE);
	TO_RAM(&v, iova_of(Y));
	CHECK(!same(HOST(&m, Y), 0xa1));
	CHECK(same(HOST(&m, Y), 0x5e) || all(HOST(&m, Y), 0, XFER));
	printf("  read of the discarded page: the device got %s\n",
	       same(HOST(&m, Y), 0x5e) ? "nothing (its buffer kept the "
	       "sentinel)" : "zeros");
	/* A write to X lands nowhere the host or the device can see. */
	fill(HOST(&m, S), 0xb2);
	TO_DEV(&v, iova_of(S));
	TO_RAM(&v, iova_of(X));
	CHECK(all(HOST(&m, X), 0, PAGE));
	faults1 = dmar_faults();
	/* The data above is the proof; the log is rate-limited. */
	printf("  DMAR fault lines in the kernel log: %d -> %d%s%s\n",
	       faults0, faults1, faults1 > faults0 ? "; the latest: " : "",
	       faults1 > faults0 ? dmar_last : "");
	/* The neighbour in the same old mapping still works both ways. */
	fill(HOST(&m, N), 0xc3);
	TO_DEV(&v, iova_of(N));
	TO_RAM(&v, iova_of(Y));
	CHECK(same(HOST(&m, Y), 0xc3));

	CHECK_OK(gmem_populate(m.f, X * PAGE, PAGE));
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == LEN && st.mappings == st0.mappings + 2);
	CHECK(iova_mapped(&v, iova_of(X)) == 1);
	/* X's new page: zeros, neither the old bytes nor the blocked write. */
	TO_DEV(&v, iova_of(X));
	memset(HOST(&m, Y), 0xee, PAGE);
	TO_RAM(&v, iova_of(Y));
	CHECK(all(HOST(&m, Y), 0, XFER));
	/* The device and the host share the new page both ways. */
	fill(HOST(&m, X), 0xd4);
	TO_DEV(&v, iova_of(X));
	TO_RAM(&v, iova_of(Y));
	CHECK(same(HOST(&m, Y), 0xd4));
	fill(HOST(&m, S), 0xe5);
	TO_DEV(&v, iova_of(S));
	TO_RAM(&v, iova_of(X));
	CHECK(same(HOST(&m, X), 0xe5));
	CHECK(st.failed_calls == 0 && st.missing_bytes == 0);
	CHECK_OK(gmem_dma_close(d));
	mem_free(&m);
	dev_close(&v);
}

static void discard_then_populate_type1_memfd(void)
{
	discard_then_populate(false, GMEM_BACKEND_MEMFD);
}

static void discard_then_populate_type1_guest_memfd(void)
{
	discard_then_populate(false, GMEM_BACKEND_GUEST_MEMFD);
}

static void discard_then_populate_iommufd_memfd(void)
{
	discard_then_populate(true, GMEM_BACKEND_MEMFD);
}

static void discard_then_populate_iommufd_guest_memfd(void)
{
	discard_then_populate(true, GMEM_BACKEND_GUEST_MEMFD);
}

/*
 * The control: the same hole punched straight into the file while the
 * library still has it mapped.  The host then sees a new zero page, but
 * the device goes on reading the old one: the order gmem_discard keeps is
 * what prevents exactly this.
 */
static void raw_punch_hazard(bool iommufd, enum gmem_backend be)
{
	struct gmem_dma *d = NULL;
	bool old;
	struct dev v;
	struct mem m;

	if (!setup(&v, iommufd, &m, be, &d))
		return;
	fill(HOST(&m, X), 0xa1);
	CHECK(fallocate(gmem_file_fd(m.f), FALLOC_FL_PUNCH_HOLE |
			FALLOC_FL_KEEP_SIZE, X * PAGE, PAGE) == 0);
	CHECK(all(HOST(&m, X), 0, PAGE));
	fill(HOST(&m, X), 0x99);	/* the host's new page */
	TO_DEV(&v, iova_of(X));
	TO_RAM(&v, iova_of(Y));
	old = same(HOST(&m, Y), 0xa1);
	printf("  raw punch while mapped: host sees the new page, the device "
	       "read the %s page\n", old ? "OLD" :
	       same(HOST(&m, Y), 0x99) ? "new" : "unknown");
	CHECK(old);
	CHECK_OK(gmem_dma_close(d));
	mem_free(&m);
	dev_close(&v);
}

static void raw_punch_hazard_type1_guest_memfd(void)
{
	raw_punch_hazard(false, GMEM_BACKEND_GUEST_MEMFD);
}

static void raw_punch_hazard_iommufd_memfd(void)
{
	raw_punch_hazard(true, GMEM_BACKEND_MEMFD);
}

/* The books match the kernel, page by page, after partial discards. */
static void books_match_kernel(bool iommufd)
{
	static const uint64_t holes[][2] = {	/* pages */
		{ 3, 1 }, { 5, 1 }, { 512, 512 },
	};
	struct gmem_dma_stats st;
	struct gmem_dma *d = NULL;
	uint64_t want_bytes = LEN;
	struct dev v;
	struct mem m;
	double t0;

	if (!setup(&v, iommufd, &m, GMEM_BACKEND_MEMFD, &d))
		return;
	for (size_t i = 0; i < 3; i++) {
		CHECK_OK(gmem_discard(m.f, holes[i][0] * PAGE,
				      holes[i][1] * PAGE));
		want_bytes -= holes[i][1] * PAGE;
	}
	DMA_STATS(d, st);
	/* [0,3) [4,5) [6,512) */
	CHECK(st.mapped_bytes == want_bytes && st.mappings == 3);
	t0 = now_ms();
	for (unsigned int p = 0; p < LEN / PAGE; p++) {
		bool hole = p == 3 || p == 5 || p >= 512;
		int ret = iova_mapped(&v, iova_of(p));

		if (ret != !hole) {
			t_fail(__FILE__, __LINE__, "IOVA page %u: the kernel "
			       "says %d, the books %d", p, ret, !hole);
			return;
		}
	}
	printf("  %u IOVA pages asked of the kernel in %.0f ms\n",
	       (unsigned int)(LEN / PAGE), now_ms() - t0);
	/* Populating across a mapped page maps only the holes. */
	CHECK_OK(gmem_populate(m.f, 3 * PAGE, 3 * PAGE));
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == LEN / 2 && st.mappings == 5);
	for (unsigned int p = 0; p < 8; p++)
		CHECK(iova_mapped(&v, iova_of(p)) == 1);
	CHECK(iova_mapped(&v, iova_of(512)) == 0);
	/* Unmapping takes every piece, whatever the fragments. */
	CHECK_OK(gmem_dma_unmap(d, m.b));
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == 0 && st.mappings == 0 && st.bindings == 0);
	for (unsigned int p = 0; p < 8; p++)
		CHECK(iova_mapped(&v, iova_of(p)) == 0);
	/* Mapping again pins the whole binding, block 1's hole included. */
	CHECK_OK(gmem_dma_map(d, m.b));
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == LEN && st.mappings == 2);
	CHECK_OK(gmem_dma_close(d));
	mem_free(&m);
	dev_close(&v);
}

static void books_match_kernel_type1(void)
{
	books_match_kernel(false);
}

static void books_match_kernel_iommufd(void)
{
	books_match_kernel(true);
}

/* ---- (4) conversions on a VM with private memory ---- */

static void convert_private_and_back(bool iommufd)
{
	struct gmem_file *shared = NULL, *priv = NULL, *priv2 = NULL;
	struct gmem_binding *b = NULL, *b2 = NULL;
	struct gmem_dma_stats st;
	struct gmem_dma *d = NULL;
	struct gmem_vm *vm = NULL;
	struct gmem_bind_args a2 = { .length = LEN, .gpa = 2 * GPA,
				     .slot = GMEM_SLOT_ANY };
	struct dev v;
	uint8_t *host;

	if (!t_need_private() || !dev_open(&v, iommufd))
		return;
	CHECK_OK(gmem_vm_create_type(GMEM_VM_TYPE_SW_PROTECTED, &vm));
	CHECK_OK(make_file(NULL, GMEM_BACKEND_MEMFD, 0, &shared));
	CHECK_OK(make_file(vm, GMEM_BACKEND_GUEST_MEMFD, GMEM_FILE_PRIVATE,
			   &priv));
	CHECK_OK(bind_at(vm, shared, priv, &b));
	CHECK_OK(gmem_populate(shared, 0, LEN));
	host = gmem_file_host_addr(shared);
	CHECK_OK(dma_open(&v, vm, &d));
	CHECK_OK(gmem_dma_map(d, b));
	fill(host + X * PAGE, 0xa1);
	TO_DEV(&v, iova_of(X));
	TO_RAM(&v, iova_of(Y));
	CHECK(same(host + Y * PAGE, 0xa1));

	/* To private: the device loses X before the shared page goes. */
	CHECK_OK(gmem_convert(vm, iova_of(X), PAGE, GMEM_MEMORY_PRIVATE, 0));
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == LEN - PAGE && st.missing_bytes == 0);
	CHECK(iova_mapped(&v, iova_of(X)) == 0);
	CHECK(iova_mapped(&v, iova_of(N)) == 1);
	fill(host + S * PAGE, 0x5e);
	TO_DEV(&v, iova_of(S));
	TO_DEV(&v, iova_of(X));
	memset(host + Y * PAGE, 0xee, PAGE);
	TO_RAM(&v, iova_of(Y));
	CHECK(!same(host + Y * PAGE, 0xa1));
	CHECK(same(host + Y * PAGE, 0x5e) || all(host + Y * PAGE, 0, XFER));
	fill(host + S * PAGE, 0xb2);
	TO_DEV(&v, iova_of(S));
	TO_RAM(&v, iova_of(X));
	/* A populate of the shared side maps nothing that is private. */
	CHECK_OK(gmem_populate(shared, X * PAGE, PAGE));
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == LEN - PAGE);
	CHECK(iova_mapped(&v, iova_of(X)) == 0);

	/* Back to shared: mapped again, a fresh page both sides agree on. */
	CHECK_OK(gmem_convert(vm, iova_of(X), PAGE, GMEM_MEMORY_SHARED, 0));
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == LEN && st.missing_bytes == 0);
	CHECK(iova_mapped(&v, iova_of(X)) == 1);
	CHECK(all(host + X * PAGE, 0, PAGE));
	TO_DEV(&v, iova_of(X));
	memset(host + Y * PAGE, 0xee, PAGE);
	TO_RAM(&v, iova_of(Y));
	CHECK(all(host + Y * PAGE, 0, XFER));
	fill(host + X * PAGE, 0xd4);
	TO_DEV(&v, iova_of(X));
	TO_RAM(&v, iova_of(Y));
	CHECK(same(host + Y * PAGE, 0xd4));

	/* Mapping a binding that is partly private leaves that part out. */
	CHECK_OK(gmem_convert(vm, iova_of(X), PAGE, GMEM_MEMORY_PRIVATE, 0));
	CHECK_OK(gmem_dma_unmap(d, b));
	CHECK(iova_mapped(&v, iova_of(0)) == 0);
	CHECK_OK(gmem_dma_map(d, b));
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == LEN - PAGE && st.mappings == 3);
	CHECK(iova_mapped(&v, iova_of(X)) == 0);
	CHECK(iova_mapped(&v, iova_of(X + 1)) == 1);

	/* A slot with no shared side has nothing for a device. */
	CHECK_OK(make_file(vm, GMEM_BACKEND_GUEST_MEMFD, GMEM_FILE_PRIVATE,
			   &priv2));
	CHECK_OK(gmem_bind(vm, priv2, &a2, &b2));
	CHECK_ERR(gmem_dma_map(d, b2), EINVAL);
	CHECK(strstr(gmem_last_error(), "no shared side"));

	CHECK_OK(gmem_dma_close(d));
	CHECK(iova_mapped(&v, iova_of(0)) == 0);
	CHECK_OK(gmem_unbind(b2));
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(priv2));
	CHECK_OK(gmem_file_close(priv));
	CHECK_OK(gmem_file_close(shared));
	CHECK_OK(gmem_vm_close(vm));
	dev_close(&v);
}

static void convert_private_and_back_type1(void)
{
	convert_private_and_back(false);
}

static void convert_private_and_back_iommufd(void)
{
	convert_private_and_back(true);
}

/* ---- (5) every close order ---- */

enum { C_DMA, C_UNBIND, C_FILE, C_VM };
static const char *const close_name[] = { "dma", "binding", "file", "vm" };

/* All 24 orders of the four closes. */
static int orders_of[24][4];

static void make_orders(void)
{
	int n = 0;

	for (int a = 0; a < 4; a++)
		for (int b = 0; b < 4; b++)
			for (int c = 0; c < 4; c++)
				if (a != b && a != c && b != c) {
					orders_of[n][0] = a;
					orders_of[n][1] = b;
					orders_of[n][2] = c;
					orders_of[n][3] = 6 - a - b - c;
					n++;
				}
}

static void every_close_order(bool iommufd)
{
	struct dev v;
	int fds0, orders = 0;
	long pinned0;

	make_orders();
	if (!dev_open(&v, iommufd))
		return;
	fds0 = t_count_fds();
	pinned0 = pinned_kib();
	for (int perm = 0; perm < 24; perm++) {
		const int *order = orders_of[perm];
		/* The mapping lives until the dma or the binding ends. */
		bool unmapped = false;
		struct gmem_dma *d = NULL;
		struct mem m;

		if (!mem_make(&m, perm % 2 ? GMEM_BACKEND_GUEST_MEMFD
					   : GMEM_BACKEND_MEMFD))
			return;
		CHECK_OK(dma_open(&v, m.vm, &d));
		CHECK_OK(gmem_dma_map(d, m.b));
		CHECK(iova_mapped(&v, iova_of(0)) == 1);
		for (int i = 0; i < 4; i++) {
			switch (order[i]) {
			case C_DMA:
				CHECK_OK(gmem_dma_close(d));
				unmapped = true;
				break;
			case C_UNBIND:
				CHECK_OK(gmem_unbind(m.b));
				unmapped = true;
				break;
			case C_FILE:
				CHECK_OK(gmem_file_close(m.f));
				break;
			case C_VM:
				CHECK_OK(gmem_vm_close(m.vm));
				unmapped = true;
				break;
			}
			if (t_failed())
				return;
			/* The kernel agrees, after every step. */
			if (iova_mapped(&v, iova_of(0)) != !unmapped ||
			    iova_mapped(&v, iova_of(LEN / PAGE - 1)) !=
			    !unmapped) {
				t_fail(__FILE__, __LINE__, "order %s %s %s %s: "
				       "after closing the %s the IOVA is %s",
				       close_name[order[0]],
				       close_name[order[1]],
				       close_name[order[2]],
				       close_name[order[3]],
				       close_name[order[i]], unmapped ?
				       "still mapped" : "unmapped");
				return;
			}
		}
		if (t_count_fds() != fds0 || pinned_kib() != pinned0) {
			t_fail(__FILE__, __LINE__, "order %s %s %s %s: fds %d "
			       "-> %d, pinned %ld -> %ld KiB",
			       close_name[order[0]], close_name[order[1]],
			       close_name[order[2]], close_name[order[3]],
			       fds0, t_count_fds(), pinned0, pinned_kib());
			return;
		}
		orders++;
	}
	CHECK(orders == 24);
	dev_close(&v);
}

static void every_close_order_type1(void)
{
	every_close_order(false);
}

static void every_close_order_iommufd(void)
{
	every_close_order(true);
}

/*
 * The kernel will not unmap (the container or iommufd closed behind the
 * library's back; the device keeps the kernel's side alive): the discard
 * is refused with nothing changed, and the device still reads the very
 * page the host sees.
 */
static void discard_refused_when_unmap_fails(bool iommufd)
{
	struct gmem_dma_stats st;
	struct gmem_dma *d = NULL;
	struct dev v;
	struct mem m;

	if (!setup(&v, iommufd, &m, GMEM_BACKEND_MEMFD, &d))
		return;
	fill(HOST(&m, X), 0xa1);
	CHECK(close(v.fd) == 0);
	v.fd = -1;
	CHECK_ERR(gmem_discard(m.f, X * PAGE, PAGE), EBADF);
	printf("  refused: %s\n", gmem_last_error());
	CHECK(strstr(gmem_last_error(), "old pages"));
	CHECK(same(HOST(&m, X), 0xa1));
	TO_DEV(&v, iova_of(X));
	TO_RAM(&v, iova_of(Y));
	CHECK(same(HOST(&m, Y), 0xa1));
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == LEN && st.failed_calls >= 1 && st.error[0]);
	/* Close cannot unmap either: it fails and the handle stays. */
	CHECK_ERR(gmem_dma_close(d), EBADF);
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == LEN);
	/* The binding's end cannot either; the books keep what is left. */
	CHECK_OK(gmem_unbind(m.b));
	m.b = NULL;
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == LEN && st.bindings == 0);
	mem_free(&m);
	dev_close(&v);
}

static void discard_refused_when_unmap_fails_type1(void)
{
	discard_refused_when_unmap_fails(false);
}

static void discard_refused_when_unmap_fails_iommufd(void)
{
	discard_refused_when_unmap_fails(true);
}

/*
 * One gmem_dma outlives bindings: an ended binding is off the IOMMU, and
 * a new one (its handle possibly at the same address) maps afresh.
 */
static void dma_outlives_bindings(bool iommufd)
{
	struct gmem_binding *old;
	struct gmem_dma_stats st;
	struct gmem_dma *d = NULL;
	struct dev v;
	struct mem m;

	if (!setup(&v, iommufd, &m, GMEM_BACKEND_MEMFD, &d))
		return;
	for (int gen = 0; gen < 3; gen++) {
		void *fill_tcache[7];

		old = m.b;
		/*
		 * glibc's calloc skips its per-thread cache: with that cache
		 * full, the freed handle goes where calloc looks first, so the
		 * next binding gets its address (a stale record would match).
		 */
		for (int i = 0; i < 7; i++)
			fill_tcache[i] = malloc(sizeof(struct gmem_binding));
		for (int i = 0; i < 7; i++)
			free(fill_tcache[i]);
		CHECK_OK(gmem_unbind(m.b));
		m.b = NULL;
		CHECK(iova_mapped(&v, iova_of(0)) == 0);
		DMA_STATS(d, st);
		CHECK(st.bindings == 0 && st.mapped_bytes == 0);
		CHECK_OK(bind_at(m.vm, m.f, NULL, &m.b));
		CHECK_OK(gmem_dma_map(d, m.b));
		printf("  generation %d: the new binding's handle is %s\n", gen,
		       m.b == old ? "at the old address" : "elsewhere");
		DMA_STATS(d, st);
		CHECK(st.bindings == 1 && st.mapped_bytes == LEN);
	}
	fill(HOST(&m, X), 0x61);
	TO_DEV(&v, iova_of(X));
	TO_RAM(&v, iova_of(Y));
	CHECK(same(HOST(&m, Y), 0x61));
	CHECK_OK(gmem_dma_close(d));
	mem_free(&m);
	dev_close(&v);
}

static void dma_outlives_bindings_type1(void)
{
	dma_outlives_bindings(false);
}

static void dma_outlives_bindings_iommufd(void)
{
	dma_outlives_bindings(true);
}

/*
 * Threads race on one gmem_dma: one discards and populates pages of block
 * 0, one maps and unmaps a second binding, one reads the figures; the
 * device keeps copying pages of block 1, whose mapping nothing touches.
 * (A page in the same block as a discard is off the IOMMU for a moment,
 * while its mapping is unmapped and mapped back: docs/dma.md.)
 * Afterwards the books equal the kernel.
 */
enum { RACE_SRC = 600, RACE_DST = 601 };
struct race {
	struct gmem_dma *d;
	struct mem *m;
	struct gmem_binding *b2;
	volatile bool stop;
	int err;
	char why[160];
};

static void race_fail(struct race *r, int err, const char *what)
{
	if (!r->err) {
		r->err = err;
		snprintf(r->why, sizeof(r->why), "%s: %s", what,
			 gmem_last_error());
	}
}

static void *race_churn(void *arg)
{
	struct race *r = arg;
	unsigned int seed = 1;

	for (int i = 0; i < 150 && !r->err; i++) {
		uint64_t p = rand_r(&seed) % (LEN / PAGE / 2);
		int ret = gmem_discard(r->m->f, p * PAGE, PAGE);

		if (ret == 0)
			ret = gmem_populate(r->m->f, p * PAGE, PAGE);
		if (ret < 0)
			race_fail(r, ret, "discard/populate");
	}
	r->stop = true;
	return NULL;
}

static void *race_remap(void *arg)
{
	struct race *r = arg;

	while (!r->stop && !r->err) {
		int ret = gmem_dma_unmap(r->d, r->b2);

		if (ret == 0)
			ret = gmem_dma_map(r->d, r->b2);
		if (ret < 0)
			race_fail(r, ret, "unmap/map");
	}
	return NULL;
}

static void *race_stats(void *arg)
{
	struct race *r = arg;
	struct gmem_dma_stats st;

	while (!r->stop && !r->err) {
		if (gmem_dma_stats(r->d, &st) < 0)
			race_fail(r, -EIO, "stats");
		else if (st.mapped_bytes > 2 * LEN || st.mapped_bytes % PAGE ||
			 st.missing_bytes || st.failed_calls ||
			 st.by_file_bytes + st.by_address_bytes !=
			 st.mapped_bytes)
			race_fail(r, -EIO, "figures out of step");
	}
	return NULL;
}

static void threads_race(bool iommufd)
{
	struct gmem_bind_args a2 = { .length = LEN, .gpa = 2 * GPA,
				     .slot = GMEM_SLOT_ANY };
	struct race r = { 0 };
	struct gmem_file *f2 = NULL;
	struct gmem_dma_stats st;
	pthread_t t[3];
	int copies = 0;
	struct dev v;
	struct mem m;

	if (!setup(&v, iommufd, &m, GMEM_BACKEND_MEMFD, &r.d))
		return;
	CHECK_OK(make_file(NULL, GMEM_BACKEND_MEMFD, 0, &f2));
	CHECK_OK(gmem_bind(m.vm, f2, &a2, &r.b2));
	CHECK_OK(gmem_dma_map(r.d, r.b2));
	r.m = &m;
	CHECK(pthread_create(&t[0], NULL, race_churn, &r) == 0);
	CHECK(pthread_create(&t[1], NULL, race_remap, &r) == 0);
	CHECK(pthread_create(&t[2], NULL, race_stats, &r) == 0);
	while (!r.stop && !r.err) {
		fill(HOST(&m, RACE_SRC), (uint8_t)copies);
		if (edu_dma(&v, (uint32_t)iova_of(RACE_SRC), EDU_BUF,
			    false) < 0 ||
		    edu_dma(&v, EDU_BUF, (uint32_t)iova_of(RACE_DST),
			    true) < 0 ||
		    !same(HOST(&m, RACE_DST), (uint8_t)copies))
			race_fail(&r, -EIO, "a device copy");
		copies++;
	}
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("  %d device copies during 150 discards and populates\n",
	       copies);
	if (r.err) {
		t_fail(__FILE__, __LINE__, "%s", r.why);
		return;
	}
	CHECK(copies > 0);
	DMA_STATS(r.d, st);
	CHECK(st.mapped_bytes == 2 * LEN && st.bindings == 2);
	for (unsigned int p = 0; p < LEN / PAGE; p++)
		CHECK(iova_mapped(&v, iova_of(p)) == 1);
	CHECK_OK(gmem_dma_close(r.d));
	CHECK(iova_mapped(&v, iova_of(0)) == 0);
	CHECK(iova_mapped(&v, 2 * GPA) == 0);
	CHECK_OK(gmem_unbind(r.b2));
	CHECK_OK(gmem_file_close(f2));
	mem_free(&m);
	dev_close(&v);
}

static void threads_race_type1(void)
{
	threads_race(false);
}

static void threads_race_iommufd(void)
{
	threads_race(true);
}

/*
 * What following the memory costs: mapping 64 MiB, and a one-page discard
 * and populate with the range mapped (one whole 2 MiB mapping unmapped,
 * its two remainders mapped back; one map for the page) against the same
 * without a device.  The emulated machine's times are not hardware's; the
 * call counts are exact.
 */
#define COST_LEN (64 * MIB)
#define COST_OPS 16

static void cost_of_following(bool iommufd, enum gmem_backend be)
{
	double t0, map_ms = 0, with[2], without[2];
	struct gmem_dma_stats st0 = { 0 }, st;
	struct gmem_dma *d = NULL;
	struct dev v;
	struct mem m;

	if (!dev_open(&v, iommufd) || !mem_make_len(&m, be, COST_LEN))
		return;
	CHECK_OK(dma_open(&v, m.vm, &d));
	for (int pass = 0; pass < 2; pass++) {
		double *out = pass ? with : without;

		if (pass) {
			t0 = now_ms();
			CHECK_OK(gmem_dma_map(d, m.b));
			map_ms = now_ms() - t0;
			DMA_STATS(d, st0);
		}
		/* One page in the middle of each of COST_OPS blocks. */
		t0 = now_ms();
		for (int i = 0; i < COST_OPS; i++)
			CHECK_OK(gmem_discard(m.f, (uint64_t)i * 2 * MIB + MIB,
					      PAGE));
		out[0] = (now_ms() - t0) / COST_OPS;
		t0 = now_ms();
		for (int i = 0; i < COST_OPS; i++)
			CHECK_OK(gmem_populate(m.f, (uint64_t)i * 2 * MIB + MIB,
					       PAGE));
		out[1] = (now_ms() - t0) / COST_OPS;
	}
	DMA_STATS(d, st);
	CHECK(st0.mappings == COST_LEN / (2 * MIB));
	CHECK(st.unmap_calls - st0.unmap_calls == COST_OPS);
	CHECK(st.map_calls - st0.map_calls == 3 * COST_OPS);
	CHECK(st.mapped_bytes == COST_LEN && st.failed_calls == 0);
	printf("  %s %s: map 64 MiB %.1f ms; one-page discard %.2f ms "
	       "mapped vs %.2f ms not, populate %.2f vs %.2f ms\n",
	       iommufd ? "iommufd" : "type1", gmem_backend_name(be), map_ms,
	       with[0], without[0], with[1], without[1]);
	CHECK_OK(gmem_dma_close(d));
	mem_free(&m);
	dev_close(&v);
}

static void cost_of_following_type1_memfd(void)
{
	cost_of_following(false, GMEM_BACKEND_MEMFD);
}

static void cost_of_following_iommufd_memfd(void)
{
	cost_of_following(true, GMEM_BACKEND_MEMFD);
}

static void cost_of_following_iommufd_guest_memfd(void)
{
	cost_of_following(true, GMEM_BACKEND_GUEST_MEMFD);
}

/* ---- (6) bad inputs ---- */

static void bad_inputs(bool iommufd)
{
	struct gmem_dma *d = NULL, *d2 = NULL;
	struct gmem_dma_stats st;
	struct mem m, other;
	struct dev v;
	int fd;

	if (!dev_open(&v, iommufd) || !mem_make(&m, GMEM_BACKEND_MEMFD) ||
	    !mem_make(&other, GMEM_BACKEND_MEMFD))
		return;
	/* Not a container / not an iommufd, in both directions. */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	CHECK_ERR(iommufd ? gmem_dma_open_iommufd(m.vm, fd, v.ioas, &d2)
			  : gmem_dma_open_vfio(m.vm, fd, &d2), ENOTTY);
	close(fd);
	CHECK_ERR(iommufd ? gmem_dma_open_iommufd(m.vm, fd, v.ioas, &d2)
			  : gmem_dma_open_vfio(m.vm, fd, &d2), EBADF);
	if (iommufd) {
		fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		CHECK_ERR(gmem_dma_open_iommufd(m.vm, fd, v.ioas, &d2), ENOTTY);
		close(fd);
		CHECK_ERR(gmem_dma_open_iommufd(m.vm, v.fd, v.ioas + 100, &d2),
			  ENOENT);
	} else {
		/* A container nobody attached a group to has no IOMMU. */
		fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		CHECK_ERR(gmem_dma_open_vfio(m.vm, fd, &d2), EINVAL);
		CHECK(strstr(gmem_last_error(), "VFIO_SET_IOMMU"));
		close(fd);
	}
	CHECK_OK(dma_open(&v, m.vm, &d));
	CHECK_ERR(gmem_dma_map(d, NULL), EINVAL);
	CHECK_ERR(gmem_dma_map(d, other.b), EXDEV);
	CHECK_ERR(gmem_dma_unmap(d, m.b), ENOENT);
	/* An IOVA the VMM already uses: the kernel's EEXIST, nothing left. */
	CHECK(raw_map(&v, iova_of(600), v.scratch, PAGE) == 0);
	CHECK_ERR(gmem_dma_map(d, m.b), EEXIST);
	CHECK(strstr(gmem_last_error(), iommufd ? "IOMMU_IOAS_MAP"
					       : "VFIO_IOMMU_MAP_DMA"));
	DMA_STATS(d, st);
	CHECK(st.mapped_bytes == 0 && st.bindings == 0 && st.failed_calls);
	CHECK(iova_mapped(&v, iova_of(0)) == 0);
	CHECK(raw_unmap(&v, iova_of(600), PAGE) == 0);
	/* Now it fits; twice is refused. */
	CHECK_OK(gmem_dma_map(d, m.b));
	CHECK_ERR(gmem_dma_map(d, m.b), EEXIST);
	/* A closed VM's bindings are gone from the IOMMU and cannot return. */
	CHECK_OK(gmem_vm_close(m.vm));
	m.vm = NULL;
	CHECK(iova_mapped(&v, iova_of(0)) == 0);
	CHECK_ERR(gmem_dma_map(d, m.b), ESHUTDOWN);
	CHECK_ERR(gmem_dma_stats(d, NULL), EINVAL);
	CHECK_ERR(gmem_dma_stats(NULL, &st), EINVAL);
	CHECK_OK(gmem_dma_close(d));
	mem_free(&m);
	mem_free(&other);
	dev_close(&v);
}

static void bad_inputs_type1(void)
{
	bad_inputs(false);
}

static void bad_inputs_iommufd(void)
{
	bad_inputs(true);
}

/* Where the machine promised both paths, the probe finds them. */
static void probe_finds_both_paths(void)
{
	static const char *const args[] = { "probe", NULL };
	struct gmem_dma_host h;
	struct t_edu e;

	if (!t_need_edu(false, &e) || !t_need_edu(true, &e))
		return;
	CHECK_OK(gmem_dma_probe(&h));
	CHECK(h.vfio && h.vfio_type1 && !h.vfio_error[0]);
	CHECK(h.iommufd && !h.iommufd_error[0]);
	/* This kernel has MAP_FILE (test_dma's memfd cases map by fd). */
	CHECK(h.iommufd_map_file == 1);
	CHECK(t_gmemctl(args) == 0);
	CHECK(strstr(t_out, "VFIO type1        usable"));
	CHECK(strstr(t_out, "iommufd           usable"));
	CHECK(strstr(t_out, "IOAS_MAP_FILE     known to this kernel"));
}

static const struct t_case cases[] = {
	T_CASE(probe_finds_both_paths),
	T_CASE(roundtrip_type1_memfd),
	T_CASE(roundtrip_type1_guest_memfd),
	T_CASE(roundtrip_iommufd_memfd),
	T_CASE(roundtrip_iommufd_guest_memfd),
	T_CASE(roundtrip_type1_hugetlb),
	T_CASE(roundtrip_iommufd_hugetlb),
	T_CASE(untouched_pages_type1_memfd),
	T_CASE(untouched_pages_iommufd_memfd),
	T_CASE(discard_then_populate_type1_memfd),
	T_CASE(discard_then_populate_type1_guest_memfd),
	T_CASE(discard_then_populate_iommufd_memfd),
	T_CASE(discard_then_populate_iommufd_guest_memfd),
	T_CASE(raw_punch_hazard_type1_guest_memfd),
	T_CASE(raw_punch_hazard_iommufd_memfd),
	T_CASE(books_match_kernel_type1),
	T_CASE(books_match_kernel_iommufd),
	T_CASE(convert_private_and_back_type1),
	T_CASE(convert_private_and_back_iommufd),
	T_CASE(every_close_order_type1),
	T_CASE(every_close_order_iommufd),
	T_CASE(dma_outlives_bindings_type1),
	T_CASE(dma_outlives_bindings_iommufd),
	T_CASE(threads_race_type1),
	T_CASE(threads_race_iommufd),
	T_CASE(cost_of_following_type1_memfd),
	T_CASE(cost_of_following_iommufd_memfd),
	T_CASE(cost_of_following_iommufd_guest_memfd),
	T_CASE(discard_refused_when_unmap_fails_type1),
	T_CASE(discard_refused_when_unmap_fails_iommufd),
	T_CASE(bad_inputs_type1),
	T_CASE(bad_inputs_iommufd),
};

T_MAIN(cases)
