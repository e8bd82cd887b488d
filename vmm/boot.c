// SPDX-License-Identifier: MIT
/*
 * boot.c - what a PC's firmware and boot loader would do for Linux: check
 * the bzImage, place the 64-bit kernel, initrd and command line in RAM,
 * describe RAM in an e820 map, and hand over in 64-bit mode with
 * boot_params, identity page tables and the GDT the boot protocol asks for.
 *
 * Offsets and values are from the kernel's boot protocol
 * (Documentation/arch/x86/boot.rst) and zero-page layout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm.h"

/* The setup header, as offsets into the bzImage and into boot_params. */
#define HDR_SETUP_SECTS		0x1f1	/* u8, 0 means 4 */
#define HDR_SYSSIZE		0x1f4	/* u32, 16-byte units */
#define HDR_VID_MODE		0x1fa	/* u16 */
#define HDR_BOOT_FLAG		0x1fe	/* u16, 0xaa55 */
#define HDR_JUMP		0x200	/* 0xeb, then the header's length */
#define HDR_MAGIC		0x202	/* "HdrS" */
#define HDR_VERSION		0x206	/* u16 */
#define HDR_TYPE_OF_LOADER	0x210	/* u8 */
#define HDR_LOADFLAGS		0x211	/* u8 */
#define HDR_RAMDISK_IMAGE	0x218	/* u32 */
#define HDR_RAMDISK_SIZE	0x21c	/* u32 */
#define HDR_CMD_LINE_PTR	0x228	/* u32 */
#define HDR_INITRD_ADDR_MAX	0x22c	/* u32, 2.03+ */
#define HDR_KERNEL_ALIGNMENT	0x230	/* u32, 2.05+ */
#define HDR_RELOCATABLE		0x234	/* u8, 2.05+ */
#define HDR_XLOADFLAGS		0x236	/* u16, 2.12+ */
#define HDR_CMDLINE_SIZE	0x238	/* u32, 2.06+ */
#define HDR_PREF_ADDRESS	0x258	/* u64, 2.10+ */
#define HDR_INIT_SIZE		0x260	/* u32, 2.10+ */
#define HDR_END_MAX		0x290	/* the setup header ends before this */

#define BOOT_FLAG_MAGIC		0xaa55
#define HDRS_MAGIC		0x53726448	/* "HdrS" */
#define LOADED_HIGH		0x01
#define XLF_KERNEL_64		0x01	/* a 64-bit entry, at load + 0x200 */
#define LOADER_UNDEFINED	0xff	/* a boot loader with no assigned id */

/* Zero-page fields outside the setup header. */
#define BP_EXT_RAMDISK_IMAGE	0x0c0
#define BP_EXT_RAMDISK_SIZE	0x0c4
#define BP_EXT_CMD_LINE_PTR	0x0c8
#define BP_E820_ENTRIES		0x1e8
#define BP_E820_TABLE		0x2d0
#define BP_E820_MAX		128
#define BP_SIZE			4096

#define E820_RAM		1
#define E820_RESERVED		2

/* Our low-memory layout; Linux keeps the first MiB to itself anyway. */
#define CMDLINE_GPA		0x20000ULL
#define CMDLINE_ROOM		0x10000ULL
#define PDPT_GPA		(BOOT_PML4_GPA + 0x1000)
#define PD_GPA			(BOOT_PML4_GPA + 0x2000)	/* 4 pages */
#define EBDA_START		0x9fc00ULL	/* end of conventional RAM */
#define BIOS_START		0xf0000ULL	/* where a BIOS ROM would be */
#define HIGH_MEM_START		0x100000ULL

#define PTE_PRESENT		(1ULL << 0)
#define PTE_WRITE		(1ULL << 1)
#define PTE_LARGE		(1ULL << 7)

static uint16_t get16(const uint8_t *p, size_t off)
{
	return (uint16_t)(p[off] | p[off + 1] << 8);
}

static uint32_t get32(const uint8_t *p, size_t off)
{
	return (uint32_t)get16(p, off) | (uint32_t)get16(p, off + 2) << 16;
}

static uint64_t get64(const uint8_t *p, size_t off)
{
	return (uint64_t)get32(p, off) | (uint64_t)get32(p, off + 4) << 32;
}

static void put16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	put16(p, off, (uint16_t)v);
	put16(p, off + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	put32(p, off, (uint32_t)v);
	put32(p, off + 4, (uint32_t)(v >> 32));
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static int read_file(const char *what, const char *path, uint8_t **out,
		     size_t *size)
{
	struct stat st;
	size_t done = 0;
	uint8_t *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		vmm_log("error: %s %s: %s", what, path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		vmm_log("error: %s %s: not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		vmm_log("error: %s %s is empty", what, path);
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		vmm_log("error: %s %s: no memory for %lld bytes", what, path,
			(long long)st.st_size);
		close(fd);
		return -ENOMEM;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n <= 0) {
			vmm_log("error: reading %s %s: %s", what, path,
				n < 0 ? strerror(errno) : "file shrank");
			free(buf);
			close(fd);
			return -EIO;
		}
		done += (size_t)n;
	}
	close(fd);
	*out = buf;
	*size = done;
	return 0;
}

/* Is this a bzImage we can start at its 64-bit entry point? */
static int check_bzimage(struct boot_plan *b, const char *path)
{
	const uint8_t *img = b->image;
	unsigned int sects;
	uint64_t payload;

	if (b->image_size < 0x1000) {
		vmm_log("error: kernel %s is %zu bytes: too small for a "
			"bzImage", path, b->image_size);
		return -EINVAL;
	}
	if (get16(img, HDR_BOOT_FLAG) != BOOT_FLAG_MAGIC ||
	    get32(img, HDR_MAGIC) != HDRS_MAGIC) {
		vmm_log("error: kernel %s: no x86 boot header (0xaa55 at "
			"0x1fe, \"HdrS\" at 0x202): not a bzImage", path);
		return -EINVAL;
	}
	b->version = get16(img, HDR_VERSION);
	/* 2.12 added xloadflags, the only place a 64-bit entry is promised. */
	if (b->version < 0x020c) {
		vmm_log("error: kernel %s: boot protocol %u.%02u; the 64-bit "
			"entry needs 2.12 or later", path, b->version >> 8,
			b->version & 0xff);
		return -EINVAL;
	}
	if (!(get16(img, HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
		vmm_log("error: kernel %s has no 64-bit entry point "
			"(xloadflags 0x%x)", path, get16(img, HDR_XLOADFLAGS));
		return -EINVAL;
	}
	if (!(img[HDR_LOADFLAGS] & LOADED_HIGH)) {
		vmm_log("error: kernel %s is a zImage, which loads below 1 "
			"MiB", path);
		return -EINVAL;
	}
	sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	b->setup_size = (sects + 1) * 512;
	payload = (uint64_t)get32(img, HDR_SYSSIZE) * 16;
	if (b->setup_size >= b->image_size ||
	    payload > b->image_size - b->setup_size) {
		vmm_log("error: kernel %s is truncated: its header promises "
			"%llu bytes, the file has %zu", path,
			(unsigned long long)(b->setup_size + payload),
			b->image_size);
		return -EINVAL;
	}
	return 0;
}

int boot_plan(struct vmm *v)
{
	struct boot_plan *b = &v->boot;
	uint64_t ram = v->opts.ram_size;
	uint64_t low = ram < LOW_RAM_MAX ? ram : LOW_RAM_MAX;
	uint64_t align, kernel_end, top;
	const uint8_t *img;
	char s1[24], s2[24];
	int ret;

	ret = read_file("kernel", v->opts.kernel, &b->image, &b->image_size);
	if (ret < 0)
		return ret;
	ret = check_bzimage(b, v->opts.kernel);
	if (ret < 0)
		return ret;
	img = b->image;

	/*
	 * Load where the kernel prefers (16 MiB for Debian's): a relocatable
	 * kernel may move itself later (KASLR), and the decompressor needs
	 * init_size bytes from here either way.
	 */
	align = get32(img, HDR_KERNEL_ALIGNMENT);
	b->kernel_addr = get64(img, HDR_PREF_ADDRESS);
	if (b->kernel_addr < HIGH_MEM_START)
		b->kernel_addr = HIGH_MEM_START;
	if (img[HDR_RELOCATABLE] && align && !(align & (align - 1)))
		b->kernel_addr = align_up(b->kernel_addr, align);
	b->kernel_span = get32(img, HDR_INIT_SIZE);
	if (b->kernel_span < b->image_size - b->setup_size)
		b->kernel_span = b->image_size - b->setup_size;
	kernel_end = align_up(b->kernel_addr + b->kernel_span, 4096);

	b->cmdline = v->opts.append;
	b->cmdline_max = get32(img, HDR_CMDLINE_SIZE);
	if (b->cmdline_max >= CMDLINE_ROOM)
		b->cmdline_max = CMDLINE_ROOM - 1;
	if (strlen(b->cmdline) > b->cmdline_max) {
		vmm_log("error: the command line is %zu bytes; this kernel "
			"takes at most %u", strlen(b->cmdline), b->cmdline_max);
		return -E2BIG;
	}

	if (v->opts.initrd) {
		ret = read_file("initrd", v->opts.initrd, &b->initrd,
				&b->initrd_size);
		if (ret < 0)
			return ret;
	}
	b->ram_needed = align_up(kernel_end + b->initrd_size, MIB);
	if (ram < b->ram_needed) {
		vmm_log("error: %s of RAM is too little: the kernel needs "
			"%s from 0x%llx%s, so use -m %lluM or more",
			vmm_size_str(ram, s1, sizeof(s1)),
			vmm_size_str(b->kernel_span, s2, sizeof(s2)),
			(unsigned long long)b->kernel_addr,
			b->initrd ? " and the initrd above that" : "",
			(unsigned long long)(b->ram_needed / MIB));
		return -ENOMEM;
	}
	if (!b->initrd)
		return 0;

	/*
	 * The initrd goes as high in low RAM as the kernel can reach
	 * (initrd_addr_max), out of the way of the kernel's decompression.
	 */
	b->initrd_max = get32(img, HDR_INITRD_ADDR_MAX);
	top = low < b->initrd_max + 1ULL ? low : b->initrd_max + 1ULL;
	if (b->initrd_size > top || (top - b->initrd_size) / 4096 * 4096 <
				    kernel_end) {
		vmm_log("error: the initrd (%s) does not fit between the "
			"kernel's end (0x%llx) and 0x%llx, the highest address "
			"it may use here", vmm_size_str(b->initrd_size, s1,
							sizeof(s1)),
			(unsigned long long)kernel_end,
			(unsigned long long)top);
		return -E2BIG;
	}
	b->initrd_addr = (top - b->initrd_size) / 4096 * 4096;
	return 0;
}

static void e820_add(uint8_t *bp, uint64_t addr, uint64_t size,
		     uint32_t type)
{
	unsigned int n = bp[BP_E820_ENTRIES];
	size_t off = BP_E820_TABLE + (size_t)n * 20;

	if (n >= BP_E820_MAX || size == 0)
		return;
	put64(bp, off, addr);
	put64(bp, off + 8, size);
	put32(bp, off + 16, type);
	bp[BP_E820_ENTRIES] = (uint8_t)(n + 1);
}

/*
 * RAM as the firmware of a PC would report it: conventional memory, the
 * legacy hole up to 1 MiB, then the rest around the 32-bit hole.
 */
static void write_e820(struct vmm *v, uint8_t *bp)
{
	const struct vmm_mem *m = &v->mem;

	e820_add(bp, 0, EBDA_START, E820_RAM);
	e820_add(bp, EBDA_START, 0xa0000 - EBDA_START, E820_RESERVED);
	e820_add(bp, BIOS_START, HIGH_MEM_START - BIOS_START, E820_RESERVED);
	e820_add(bp, HIGH_MEM_START, m->low_size - HIGH_MEM_START, E820_RAM);
	if (m->size > m->low_size)
		e820_add(bp, HIGH_RAM_START, m->size - m->low_size, E820_RAM);
}

/*
 * The 64-bit entry wants paging on, with the kernel, boot_params, the
 * command line and the initrd identity-mapped: map all of the first
 * 4 GiB with 2 MiB pages, which every x86-64 CPU has.
 */
static void write_page_tables(struct vmm *v)
{
	uint64_t *pml4 = mem_gpa(v, BOOT_PML4_GPA, 4096);
	uint64_t *pdpt = mem_gpa(v, PDPT_GPA, 4096);
	uint64_t *pd = mem_gpa(v, PD_GPA, 4 * 4096);

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = PDPT_GPA | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (PD_GPA + i * 4096) | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_WRITE | PTE_LARGE;
}

/* __BOOT_CS is a 64-bit code segment, __BOOT_DS a flat data segment. */
static void write_gdt(struct vmm *v)
{
	uint64_t *gdt = mem_gpa(v, BOOT_GDT_GPA, 4096);

	memset(gdt, 0, 4096);
	gdt[BOOT_GDT_CS / 8] = 0x00af9b000000ffffULL;
	gdt[BOOT_GDT_DS / 8] = 0x00cf93000000ffffULL;
}

int boot_load(struct vmm *v)
{
	struct boot_plan *b = &v->boot;
	uint8_t *bp = mem_gpa(v, BOOT_PARAMS_GPA, BP_SIZE);
	size_t hdr_end = HDR_MAGIC + b->image[HDR_JUMP + 1];
	uint8_t *dst;

	/* boot_plan() checked the sizes against RAM, so these all map. */
	write_gdt(v);
	write_page_tables(v);

	dst = mem_gpa(v, b->kernel_addr, b->image_size - b->setup_size);
	memcpy(dst, b->image + b->setup_size, b->image_size - b->setup_size);

	/* Start boot_params from the image's own setup header. */
	memset(bp, 0, BP_SIZE);
	if (hdr_end > HDR_END_MAX)
		hdr_end = HDR_END_MAX;
	memcpy(bp + HDR_SETUP_SECTS, b->image + HDR_SETUP_SECTS,
	       hdr_end - HDR_SETUP_SECTS);
	bp[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	put16(bp, HDR_VID_MODE, 0xffff);	/* "normal": no mode change */

	dst = mem_gpa(v, CMDLINE_GPA, CMDLINE_ROOM);
	memset(dst, 0, CMDLINE_ROOM);
	memcpy(dst, b->cmdline, strlen(b->cmdline));
	put32(bp, HDR_CMD_LINE_PTR, (uint32_t)CMDLINE_GPA);
	put32(bp, BP_EXT_CMD_LINE_PTR, (uint32_t)(CMDLINE_GPA >> 32));

	if (b->initrd) {
		dst = mem_gpa(v, b->initrd_addr, b->initrd_size);
		memcpy(dst, b->initrd, b->initrd_size);
		put32(bp, HDR_RAMDISK_IMAGE, (uint32_t)b->initrd_addr);
		put32(bp, HDR_RAMDISK_SIZE, (uint32_t)b->initrd_size);
		put32(bp, BP_EXT_RAMDISK_IMAGE,
		      (uint32_t)(b->initrd_addr >> 32));
		put32(bp, BP_EXT_RAMDISK_SIZE,
		      (uint32_t)((uint64_t)b->initrd_size >> 32));
	}
	write_e820(v, bp);
	vmm_verbose(v, "boot protocol %u.%02u; kernel at 0x%llx (+0x%llx), "
		    "initrd at 0x%llx (+0x%zx), %u e820 entries",
		    b->version >> 8, b->version & 0xff,
		    (unsigned long long)b->kernel_addr,
		    (unsigned long long)b->kernel_span,
		    (unsigned long long)b->initrd_addr, b->initrd_size,
		    bp[BP_E820_ENTRIES]);
	return 0;
}

uint64_t boot_entry(const struct vmm *v)
{
	/* The 64-bit entry is 0x200 past the start of the loaded kernel. */
	return v->boot.kernel_addr + 0x200;
}

void boot_free(struct vmm *v)
{
	free(v->boot.image);
	free(v->boot.initrd);
	v->boot.image = NULL;
	v->boot.initrd = NULL;
}
