// SPDX-License-Identifier: MIT
/* dma-smoke.c - proves real device DMA in the emulated machine: QEMU's edu device copies memfd and guest_memfd pages through VFIO type1 and through iommufd, and shows the discard-while-mapped hazard. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* VFIO and iommufd ABI, written down here (numbers from the 7.x uapi headers). */
#define DS_VFIO_TYPE ';'
#define DS_VFIO_IO(nr) _IO(DS_VFIO_TYPE, 100 + (nr))
#define DS_VFIO_GET_API_VERSION DS_VFIO_IO(0)
#define DS_VFIO_CHECK_EXTENSION DS_VFIO_IO(1)
#define DS_VFIO_SET_IOMMU DS_VFIO_IO(2)
#define DS_VFIO_GROUP_GET_STATUS DS_VFIO_IO(3)
#define DS_VFIO_GROUP_SET_CONTAINER DS_VFIO_IO(4)
#define DS_VFIO_GROUP_GET_DEVICE_FD DS_VFIO_IO(6)
#define DS_VFIO_DEVICE_GET_REGION_INFO DS_VFIO_IO(8)
#define DS_VFIO_IOMMU_MAP_DMA DS_VFIO_IO(13)
#define DS_VFIO_IOMMU_UNMAP_DMA DS_VFIO_IO(14)
#define DS_VFIO_DEVICE_BIND_IOMMUFD DS_VFIO_IO(18)
#define DS_VFIO_DEVICE_ATTACH_IOMMUFD_PT DS_VFIO_IO(19)
#define DS_VFIO_TYPE1v2_IOMMU 3
#define DS_VFIO_GROUP_FLAGS_VIABLE 1u
#define DS_VFIO_DMA_MAP_READ 1u
#define DS_VFIO_DMA_MAP_WRITE 2u
#define DS_VFIO_PCI_BAR0_REGION 0u
#define DS_VFIO_PCI_CONFIG_REGION 7u

struct ds_group_status {
	uint32_t argsz;
	uint32_t flags;
};

struct ds_region_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t cap_offset;
	uint64_t size;
	uint64_t offset;
};

struct ds_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t vaddr;
	uint64_t iova;
	uint64_t size;
};

struct ds_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t iova;
	uint64_t size;
};

struct ds_bind_iommufd {
	uint32_t argsz;
	uint32_t flags;
	int32_t iommufd;
	uint32_t out_devid;
	uint64_t token_uuid_ptr;
};

struct ds_attach_pt {
	uint32_t argsz;
	uint32_t flags;
	uint32_t pt_id;
	uint32_t pasid;
};

#define DS_IOMMU_IOAS_ALLOC _IO(DS_VFIO_TYPE, 0x81)
#define DS_IOMMU_IOAS_MAP _IO(DS_VFIO_TYPE, 0x85)
#define DS_IOMMU_IOAS_UNMAP _IO(DS_VFIO_TYPE, 0x86)
#define DS_IOMMU_IOAS_MAP_FILE _IO(DS_VFIO_TYPE, 0x8f)
#define DS_IOAS_MAP_FIXED_IOVA 1u
#define DS_IOAS_MAP_WRITEABLE 2u
#define DS_IOAS_MAP_READABLE 4u

struct ds_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};

struct ds_ioas_map {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	uint32_t reserved;
	uint64_t user_va;
	uint64_t length;
	uint64_t iova;
};

struct ds_ioas_map_file {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	int32_t fd;
	uint64_t start;
	uint64_t length;
	uint64_t iova;
};

struct ds_ioas_unmap {
	uint32_t size;
	uint32_t ioas_id;
	uint64_t iova;
	uint64_t length;
};

/* guest_memfd, as in private-smoke.c. */
struct ds_create_guest_memfd {
	uint64_t size;
	uint64_t flags;
	uint64_t reserved[6];
};
#define DS_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct ds_create_guest_memfd)
#define DS_GMEM_FLAG_MMAP (1ull << 0)
#define DS_GMEM_FLAG_INIT_SHARED (1ull << 1)

/*
 * QEMU's edu device: registers in BAR0, a 4 KiB buffer the DMA engine sees
 * at device address 0x40000.  Commands: bit 0 start (cleared when done),
 * bit 1 direction (set: buffer to RAM).  Facts from QEMU's hw/misc/edu.c.
 */
#define EDU_REG_ID 0x00
#define EDU_ID_VALUE 0x010000edu
#define EDU_REG_SRC 0x80
#define EDU_REG_DST 0x88
#define EDU_REG_CNT 0x90
#define EDU_REG_CMD 0x98
#define EDU_CMD_RUN 0x1u
#define EDU_CMD_TO_RAM 0x2u
#define EDU_BUF 0x40000u
/* QEMU 7.2's edu aborts the machine on a full 4096-byte transfer. */
#define XFER 0xf00u
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2u
#define PCI_COMMAND_MASTER 0x4u

/* edu masks DMA addresses to 28 bits, so every IOVA stays below 256 MiB. */
#define BUF_SIZE 0x10000u
#define PAGE 0x1000u
#define TYPE1_IOVA 0x100000u
#define IOMMUFD_IOVA 0x200000u

static int n_pass, n_fail, n_skip;

static void pass(const char *name)
{
	n_pass++;
	printf("PASS %s\n", name);
}

static void vreport(const char *what, const char *name, const char *fmt, va_list ap)
{
	printf("%s %s: ", what, name);
	vprintf(fmt, ap);
	printf("\n");
}

static void fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	n_fail++;
	va_start(ap, fmt);
	vreport("FAIL", name, fmt, ap);
	va_end(ap);
}

static void skip(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip(const char *name, const char *fmt, ...)
{
	va_list ap;

	n_skip++;
	va_start(ap, fmt);
	vreport("SKIP", name, fmt, ap);
	va_end(ap);
}

static void check(const char *name, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(const char *name, int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		pass(name);
		return;
	}
	n_fail++;
	va_start(ap, fmt);
	vreport("FAIL", name, fmt, ap);
	va_end(ap);
}

/* One key of /etc/gmem-vm-features (written by run-in-vm.sh), or NULL. */
static char *feature(const char *key)
{
	const char *path = getenv("GMEM_VM_FEATURES");
	size_t klen = strlen(key);
	char line[512];
	FILE *f = fopen(path ? path : "/etc/gmem-vm-features", "r");

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
			fclose(f);
			line[strcspn(line, "\n")] = 0;
			return strdup(line + klen + 1);
		}
	}
	fclose(f);
	return NULL;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* --- the kernel log: DMAR fault lines ------------------------------------------ */

static int count_dmar_faults(char **last)
{
	int size = klogctl(10, NULL, 0);	/* SYSLOG_ACTION_SIZE_BUFFER */
	char *buf, *line, *save = NULL;
	int n = 0;

	if (size <= 0)
		return -1;
	buf = malloc((size_t)size + 1);
	if (!buf)
		return -1;
	size = klogctl(3, buf, size);		/* SYSLOG_ACTION_READ_ALL */
	if (size < 0) {
		free(buf);
		return -1;
	}
	buf[size] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/*
		 * Each fault logs "handling fault status" and then the record
		 * ("fault addr ..."), both under one rate limit (10 lines per
		 * 5 s), so the second line of a later fault may be dropped.
		 */
		if (strstr(line, "DMAR") && strstr(line, "fault")) {
			n++;
			if (last) {
				free(*last);
				*last = strdup(line);
			}
		}
	}
	free(buf);
	return n;
}

/* The fault is logged from an interrupt handler: wait for it to show up. */
static int wait_dmar_fault(int before, char **line)
{
	double end = now_ms() + 3000;
	int n;

	do {
		n = count_dmar_faults(line);
		if (n > before)
			return n;
		usleep(2000);
	} while (now_ms() < end);
	return n;
}

/* --- edu through a VFIO device fd ---------------------------------------------- */

struct edu {
	int dev;
	uint64_t bar0;
	uint64_t cfg;
};

static int edu_rd(struct edu *e, uint32_t reg, uint32_t *val)
{
	return pread(e->dev, val, 4, (off_t)(e->bar0 + reg)) == 4 ? 0 : -1;
}

static int edu_wr(struct edu *e, uint32_t reg, uint32_t val)
{
	return pwrite(e->dev, &val, 4, (off_t)(e->bar0 + reg)) == 4 ? 0 : -1;
}

static int region_offset(int dev, uint32_t index, uint64_t *off)
{
	struct ds_region_info ri = { .argsz = sizeof(ri), .index = index };

	if (ioctl(dev, DS_VFIO_DEVICE_GET_REGION_INFO, &ri) < 0)
		return -1;
	*off = ri.offset;
	return 0;
}

/* Find BAR0 and config space; turn on bus mastering, which vfio-pci leaves off. */
static int edu_setup(struct edu *e, int dev, char *why, size_t len)
{
	uint16_t cmd;
	uint32_t id;

	e->dev = dev;
	if (region_offset(dev, DS_VFIO_PCI_BAR0_REGION, &e->bar0) < 0 ||
	    region_offset(dev, DS_VFIO_PCI_CONFIG_REGION, &e->cfg) < 0) {
		snprintf(why, len, "VFIO_DEVICE_GET_REGION_INFO: %s", strerror(errno));
		return -1;
	}
	if (pread(dev, &cmd, 2, (off_t)(e->cfg + PCI_COMMAND)) != 2) {
		snprintf(why, len, "reading PCI_COMMAND: %s", strerror(errno));
		return -1;
	}
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(dev, &cmd, 2, (off_t)(e->cfg + PCI_COMMAND)) != 2) {
		snprintf(why, len, "writing PCI_COMMAND: %s", strerror(errno));
		return -1;
	}
	if (edu_rd(e, EDU_REG_ID, &id) < 0 || id != EDU_ID_VALUE) {
		snprintf(why, len, "edu id register reads %#x, want %#x", id, EDU_ID_VALUE);
		return -1;
	}
	return 0;
}

/*
 * One DMA transfer of XFER bytes; polls the command register until the
 * engine clears RUN (about 100 ms of virtual time).  Returns ms or -1.
 */
static double edu_dma(struct edu *e, uint32_t src, uint32_t dst, int to_ram)
{
	double start = now_ms();
	uint32_t cmd;

	if (edu_wr(e, EDU_REG_SRC, src) || edu_wr(e, EDU_REG_DST, dst) ||
	    edu_wr(e, EDU_REG_CNT, XFER) ||
	    edu_wr(e, EDU_REG_CMD, EDU_CMD_RUN | (to_ram ? EDU_CMD_TO_RAM : 0)))
		return -1;
	do {
		if (edu_rd(e, EDU_REG_CMD, &cmd) < 0)
			return -1;
		if (!(cmd & EDU_CMD_RUN))
			return now_ms() - start;
		usleep(1000);
	} while (now_ms() - start < 10000);
	errno = ETIMEDOUT;
	return -1;
}

/* RAM page at iova -> edu buffer -> RAM page at iova + PAGE. */
static int edu_copy(struct edu *e, uint32_t iova, double *ms)
{
	double a = edu_dma(e, iova, EDU_BUF, 0);
	double b = a < 0 ? -1 : edu_dma(e, EDU_BUF, iova + PAGE, 1);

	if (ms)
		*ms = a + b;
	return a < 0 || b < 0 ? -1 : 0;
}

static void fill(uint8_t *p, uint8_t seed)
{
	for (uint32_t i = 0; i < XFER; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static int same(const uint8_t *p, uint8_t seed)
{
	for (uint32_t i = 0; i < XFER; i++)
		if (p[i] != (uint8_t)(seed + i * 7))
			return 0;
	return 1;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* --- the memory: a memfd or a guest_memfd, with a host mapping ----------------- */

struct buf {
	const char *kind;
	int fd;
	uint8_t *map;
};

static int kvm_vm = -1;

static int buf_memfd(struct buf *b)
{
	b->kind = "memfd";
	b->fd = memfd_create("dma-smoke", MFD_CLOEXEC);
	if (b->fd < 0 || ftruncate(b->fd, BUF_SIZE) < 0)
		return -1;
	b->map = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	return b->map == MAP_FAILED ? -1 : 0;
}

static int buf_gmem(struct buf *b, uint64_t flags)
{
	struct ds_create_guest_memfd c = { .size = BUF_SIZE, .flags = flags };

	b->kind = "guest_memfd";
	b->map = MAP_FAILED;
	if (kvm_vm < 0) {
		int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

		if (kvm < 0)
			return -1;
		kvm_vm = ioctl(kvm, KVM_CREATE_VM, 0);
		close(kvm);
		if (kvm_vm < 0)
			return -1;
	}
	b->fd = ioctl(kvm_vm, DS_CREATE_GUEST_MEMFD, &c);
	if (b->fd < 0)
		return -1;
	b->map = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	return b->map == MAP_FAILED ? -1 : 0;
}

static void buf_free(struct buf *b)
{
	if (b->map && b->map != MAP_FAILED)
		munmap(b->map, BUF_SIZE);
	if (b->fd >= 0)
		close(b->fd);
	b->map = NULL;
	b->fd = -1;
}

static int punch(struct buf *b, off_t off)
{
	return fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, PAGE);
}

/* --- the tests that do not depend on the IOMMU interface ------------------------ */

/* Page 0 to the device and back into page 1, byte-exact. */
static void test_roundtrip(const char *name, struct edu *e, struct buf *b, uint32_t iova)
{
	double ms;

	fill(b->map, 0x31);
	memset(b->map + PAGE, 0, PAGE);
	if (edu_copy(e, iova, &ms) < 0) {
		fail(name, "edu DMA: %s", strerror(errno));
		return;
	}
	check(name, same(b->map + PAGE, 0x31), "page 1 does not hold what page 0 held (%s)", b->kind);
	printf("  %s: two DMA transfers of %#x bytes took %.0f ms\n", name, XFER, ms);
}

/*
 * Discard while DMA-mapped: the hole punch succeeds and the host then sees
 * a new zero page, but the IOMMU still points at the old, pinned one.
 */
static void test_punch_hazard(const char *name, struct edu *e, struct buf *b, uint32_t iova)
{
	fill(b->map, 0x42);
	if (punch(b, 0) < 0) {
		fail(name, "fallocate(PUNCH_HOLE) on the mapped %s: %s", b->kind, strerror(errno));
		return;
	}
	int host_zero = all_zero(b->map, PAGE);
	fill(b->map, 0x99);		/* the host's new page */
	memset(b->map + PAGE, 0, PAGE);
	if (edu_copy(e, iova, NULL) < 0) {
		fail(name, "edu DMA: %s", strerror(errno));
		return;
	}
	int old = same(b->map + PAGE, 0x42), fresh = same(b->map + PAGE, 0x99);
	printf("  %s: after the punch the host saw %s; the device read the %s page\n", name,
	       host_zero ? "zeros" : "old bytes", old ? "OLD" : fresh ? "new" : "unknown");
	check(name, host_zero && old,
	      "want: host sees zeros after the punch (%s) and the device still reads the old page (%s)",
	      host_zero ? "yes" : "no", old ? "yes" : fresh ? "no, it read the new page" : "no");
}

/* After unmapping, a write DMA must not land and the IOMMU must log a fault. */
static void test_blocked(const char *name, struct edu *e, struct buf *b, uint32_t iova)
{
	char *line = NULL;
	int before = count_dmar_faults(NULL);

	memset(b->map + PAGE, 0xee, PAGE);
	/* The command still completes: the engine does not see the fault. */
	if (edu_dma(e, EDU_BUF, iova + PAGE, 1) < 0) {
		fail(name, "edu DMA: %s", strerror(errno));
		return;
	}
	int after = wait_dmar_fault(before, &line);
	int untouched = 1;
	for (uint32_t i = 0; i < PAGE; i++)
		untouched &= b->map[PAGE + i] == 0xee;
	if (line)
		printf("  %s: dmesg: %s\n", name, line);
	check(name, untouched && after > before,
	      "memory %s, DMAR fault lines in dmesg %d -> %d", untouched ? "untouched" : "WRITTEN",
	      before, after);
	free(line);
}

/* --- VFIO type1 ----------------------------------------------------------------- */

static int type1_map(int container, struct buf *b, uint32_t iova)
{
	struct ds_dma_map m = {
		.argsz = sizeof(m),
		.flags = DS_VFIO_DMA_MAP_READ | DS_VFIO_DMA_MAP_WRITE,
		.vaddr = (uintptr_t)b->map,
		.iova = iova,
		.size = BUF_SIZE,
	};
	return ioctl(container, DS_VFIO_IOMMU_MAP_DMA, &m);
}

static int type1_unmap(int container, uint32_t iova)
{
	struct ds_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = BUF_SIZE };

	return ioctl(container, DS_VFIO_IOMMU_UNMAP_DMA, &u);
}

/* Map B, round trip, punch while mapped, unmap, and check the device is cut off. */
static void type1_cycle(const char *tag, int container, struct edu *e, struct buf *b)
{
	char name[96];

	snprintf(name, sizeof(name), "type1-%s-roundtrip", tag);
	if (type1_map(container, b, TYPE1_IOVA) < 0) {
		fail(name, "VFIO_IOMMU_MAP_DMA of the %s mapping: %s", b->kind, strerror(errno));
		return;
	}
	test_roundtrip(name, e, b, TYPE1_IOVA);
	snprintf(name, sizeof(name), "type1-%s-punch-while-mapped", tag);
	test_punch_hazard(name, e, b, TYPE1_IOVA);
	snprintf(name, sizeof(name), "type1-%s-unmap-blocks-dma", tag);
	if (type1_unmap(container, TYPE1_IOVA) < 0) {
		fail(name, "VFIO_IOMMU_UNMAP_DMA: %s", strerror(errno));
		return;
	}
	test_blocked(name, e, b, TYPE1_IOVA);
}

static void test_type1(const char *bdf, const char *group_path)
{
	struct ds_group_status st = { .argsz = sizeof(st) };
	int container = -1, group = -1, dev = -1;
	struct buf b = { .fd = -1 };
	char why[256];
	struct edu e;

	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	group = open(group_path, O_RDWR | O_CLOEXEC);
	if (container < 0 || group < 0) {
		fail("type1-setup", "open /dev/vfio/vfio or %s: %s", group_path, strerror(errno));
		goto out;
	}
	if (ioctl(container, DS_VFIO_GET_API_VERSION) != 0 ||
	    ioctl(container, DS_VFIO_CHECK_EXTENSION, DS_VFIO_TYPE1v2_IOMMU) != 1) {
		fail("type1-setup", "VFIO API version or TYPE1v2 extension missing");
		goto out;
	}
	if (ioctl(group, DS_VFIO_GROUP_GET_STATUS, &st) < 0 || !(st.flags & DS_VFIO_GROUP_FLAGS_VIABLE)) {
		fail("type1-setup", "group %s is not viable (flags %#x)", group_path, st.flags);
		goto out;
	}
	if (ioctl(group, DS_VFIO_GROUP_SET_CONTAINER, &container) < 0 ||
	    ioctl(container, DS_VFIO_SET_IOMMU, DS_VFIO_TYPE1v2_IOMMU) < 0) {
		fail("type1-setup", "VFIO_GROUP_SET_CONTAINER / VFIO_SET_IOMMU: %s", strerror(errno));
		goto out;
	}
	dev = ioctl(group, DS_VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev < 0) {
		fail("type1-setup", "VFIO_GROUP_GET_DEVICE_FD(%s): %s", bdf, strerror(errno));
		goto out;
	}
	if (edu_setup(&e, dev, why, sizeof(why)) < 0) {
		fail("type1-setup", "%s", why);
		goto out;
	}
	pass("type1-setup");

	if (buf_memfd(&b) < 0)
		fail("type1-memfd-roundtrip", "memfd: %s", strerror(errno));
	else
		type1_cycle("memfd", container, &e, &b);
	buf_free(&b);

	if (buf_gmem(&b, DS_GMEM_FLAG_MMAP | DS_GMEM_FLAG_INIT_SHARED) < 0)
		fail("type1-gmem-roundtrip", "guest_memfd MMAP|INIT_SHARED: %s", strerror(errno));
	else
		type1_cycle("gmem", container, &e, &b);
	buf_free(&b);

	/* Without INIT_SHARED the pages are private: nothing for VFIO to pin. */
	if (buf_gmem(&b, DS_GMEM_FLAG_MMAP) < 0) {
		fail("type1-gmem-private-refused", "guest_memfd MMAP: %s", strerror(errno));
	} else {
		int rc = type1_map(container, &b, TYPE1_IOVA);
		int err = errno;
		check("type1-gmem-private-refused", rc < 0 && err == EFAULT,
		      "VFIO_IOMMU_MAP_DMA of a private guest_memfd gave %s, want EFAULT",
		      rc < 0 ? strerror(err) : "success");
		if (rc == 0)
			type1_unmap(container, TYPE1_IOVA);
	}
	buf_free(&b);
out:
	if (dev >= 0)
		close(dev);
	if (group >= 0)
		close(group);
	if (container >= 0)
		close(container);
}

/* --- iommufd -------------------------------------------------------------------- */

static int ioas_map_file(int iommufd, uint32_t ioas, struct buf *b, uint32_t iova)
{
	struct ds_ioas_map_file m = {
		.size = sizeof(m),
		.flags = DS_IOAS_MAP_FIXED_IOVA | DS_IOAS_MAP_READABLE | DS_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.fd = b->fd,
		.start = 0,
		.length = BUF_SIZE,
		.iova = iova,
	};
	return ioctl(iommufd, DS_IOMMU_IOAS_MAP_FILE, &m);
}

static int ioas_map_va(int iommufd, uint32_t ioas, struct buf *b, uint32_t iova)
{
	struct ds_ioas_map m = {
		.size = sizeof(m),
		.flags = DS_IOAS_MAP_FIXED_IOVA | DS_IOAS_MAP_READABLE | DS_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)b->map,
		.length = BUF_SIZE,
		.iova = iova,
	};
	return ioctl(iommufd, DS_IOMMU_IOAS_MAP, &m);
}

static int ioas_unmap(int iommufd, uint32_t ioas, uint32_t iova)
{
	struct ds_ioas_unmap u = { .size = sizeof(u), .ioas_id = ioas, .iova = iova, .length = BUF_SIZE };

	return ioctl(iommufd, DS_IOMMU_IOAS_UNMAP, &u);
}

static void iommufd_cycle(const char *tag, int iommufd, uint32_t ioas, struct edu *e,
			  struct buf *b, int by_file, int try_blocked)
{
	char name[96];

	snprintf(name, sizeof(name), "iommufd-%s-roundtrip", tag);
	if ((by_file ? ioas_map_file : ioas_map_va)(iommufd, ioas, b, IOMMUFD_IOVA) < 0) {
		fail(name, "%s of the %s: %s", by_file ? "IOMMU_IOAS_MAP_FILE" : "IOMMU_IOAS_MAP",
		     b->kind, strerror(errno));
		return;
	}
	test_roundtrip(name, e, b, IOMMUFD_IOVA);
	snprintf(name, sizeof(name), "iommufd-%s-punch-while-mapped", tag);
	test_punch_hazard(name, e, b, IOMMUFD_IOVA);
	snprintf(name, sizeof(name), "iommufd-%s-unmap-blocks-dma", tag);
	if (ioas_unmap(iommufd, ioas, IOMMUFD_IOVA) < 0) {
		fail(name, "IOMMU_IOAS_UNMAP: %s", strerror(errno));
		return;
	}
	/* Faults are rate limited in the kernel log; spend them where they prove something new. */
	if (try_blocked)
		test_blocked(name, e, b, IOMMUFD_IOVA);
}

static void test_iommufd(const char *cdev)
{
	struct ds_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct ds_attach_pt attach = { .argsz = sizeof(attach) };
	struct ds_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct buf b = { .fd = -1 };
	int iommufd, dev = -1;
	char why[256];
	struct edu e;

	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	dev = open(cdev, O_RDWR | O_CLOEXEC);
	if (iommufd < 0 || dev < 0) {
		fail("iommufd-setup", "open /dev/iommu or %s: %s", cdev, strerror(errno));
		goto out;
	}
	bind.iommufd = iommufd;
	if (ioctl(dev, DS_VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
		fail("iommufd-setup", "VFIO_DEVICE_BIND_IOMMUFD: %s", strerror(errno));
		goto out;
	}
	if (ioctl(iommufd, DS_IOMMU_IOAS_ALLOC, &alloc) < 0) {
		fail("iommufd-setup", "IOMMU_IOAS_ALLOC: %s", strerror(errno));
		goto out;
	}
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(dev, DS_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0) {
		fail("iommufd-setup", "VFIO_DEVICE_ATTACH_IOMMUFD_PT(ioas %u): %s", alloc.out_ioas_id,
		     strerror(errno));
		goto out;
	}
	if (edu_setup(&e, dev, why, sizeof(why)) < 0) {
		fail("iommufd-setup", "%s", why);
		goto out;
	}
	printf("  iommufd: device id %u, IOAS %u, attached page table %u\n", bind.out_devid,
	       alloc.out_ioas_id, attach.pt_id);
	pass("iommufd-setup");

	if (buf_memfd(&b) < 0)
		fail("iommufd-map-file-memfd-roundtrip", "memfd: %s", strerror(errno));
	else
		iommufd_cycle("map-file-memfd", iommufd, alloc.out_ioas_id, &e, &b, 1, 1);
	buf_free(&b);

	/* MAP_FILE pins through memfd_pin_folios, which takes shmem and hugetlbfs only. */
	if (buf_gmem(&b, DS_GMEM_FLAG_MMAP | DS_GMEM_FLAG_INIT_SHARED) < 0) {
		fail("iommufd-map-file-gmem", "guest_memfd MMAP|INIT_SHARED: %s", strerror(errno));
	} else if (ioas_map_file(iommufd, alloc.out_ioas_id, &b, IOMMUFD_IOVA) < 0) {
		skip("iommufd-map-file-gmem", "IOMMU_IOAS_MAP_FILE of a guest_memfd: %s (the kernel pins files with memfd_pin_folios, which takes shmem and hugetlbfs only)",
		     strerror(errno));
	} else {
		ioas_unmap(iommufd, alloc.out_ioas_id, IOMMUFD_IOVA);
		iommufd_cycle("map-file-gmem", iommufd, alloc.out_ioas_id, &e, &b, 1, 1);
	}
	buf_free(&b);

	/* By address, a shared guest_memfd mapping pins like any other. */
	if (buf_gmem(&b, DS_GMEM_FLAG_MMAP | DS_GMEM_FLAG_INIT_SHARED) < 0)
		fail("iommufd-map-va-gmem-roundtrip", "guest_memfd: %s", strerror(errno));
	else
		iommufd_cycle("map-va-gmem", iommufd, alloc.out_ioas_id, &e, &b, 0, 0);
	buf_free(&b);
out:
	if (dev >= 0)
		close(dev);
	if (iommufd >= 0)
		close(iommufd);
}

int main(void)
{
	char *edu, *group, *cdev, *iommufd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	edu = feature("edu");
	group = feature("edu_group");
	cdev = feature("edu_cdev");
	iommufd = feature("iommufd");

	/* No edu, no DMA: fail with the machine's reason (GMEM_VM_IOMMU=1 boots one). */
	if (!edu || strncmp(edu, "0000:", 5) != 0 || !group) {
		fail("edu", "the emulated machine has edu=%s", edu ? edu : "(no /etc/gmem-vm-features)");
		goto out;
	}
	printf("  edu at %s, group %s, cdev %s\n", edu, group, cdev ? cdev : "-");
	test_type1(edu, group);

	if (!iommufd || strcmp(iommufd, "yes") != 0 || !cdev)
		fail("iommufd", "the emulated machine has iommufd=%s", iommufd ? iommufd : "(unknown)");
	else
		test_iommufd(cdev);
out:
	printf("dma-smoke: %d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
	return n_fail ? 1 : 0;
}
