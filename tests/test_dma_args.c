// SPDX-License-Identifier: MIT
/*
 * test_dma_args.c - the DMA calls' refusals and the IOMMU probe, on every
 * host: no device is needed to show that a bad fd, a fd of the wrong kind
 * or a NULL handle is refused with a reason and leaves nothing behind, or
 * that the probe says what the machine has.  test_dma does the DMA.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

static void probe_null_is_einval(void)
{
	CHECK_ERR(gmem_dma_probe(NULL), EINVAL);
}

/* The probe's answers agree with the device nodes, and say why not. */
static void probe_matches_the_machine(void)
{
	bool vfio_node = access("/dev/vfio/vfio", F_OK) == 0;
	bool iommu_node = access("/dev/iommu", F_OK) == 0;
	struct gmem_dma_host h;

	memset(&h, 0xff, sizeof(h));
	CHECK_OK(gmem_dma_probe(&h));
	CHECK(!gmem_last_error()[0]);
	printf("  vfio %d type1 %d (%s); iommufd %d map_file %d (%s)\n",
	       h.vfio, h.vfio_type1, h.vfio_error, h.iommufd,
	       h.iommufd_map_file, h.iommufd_error);
	for (size_t i = 0; i < sizeof(h.reserved) / sizeof(h.reserved[0]); i++)
		CHECK(h.reserved[i] == 0);
	if (!vfio_node)
		CHECK(!h.vfio && !h.vfio_type1 &&
		      strstr(h.vfio_error, "/dev/vfio/vfio"));
	if (!iommu_node)
		CHECK(!h.iommufd && h.iommufd_map_file == -1 &&
		      strstr(h.iommufd_error, "/dev/iommu"));
	CHECK(!h.vfio_type1 || h.vfio);
	CHECK(h.vfio_type1 == !h.vfio_error[0]);
	CHECK(h.iommufd == !h.iommufd_error[0]);
	CHECK(h.iommufd || h.iommufd_map_file == -1);
	CHECK(h.iommufd_map_file >= -1 && h.iommufd_map_file <= 1);
}

static void null_arguments(void)
{
	struct gmem_dma_stats st;
	struct gmem_dma *d;

	CHECK_ERR(gmem_dma_open_vfio(NULL, 0, &d), EINVAL);
	CHECK_ERR(gmem_dma_open_iommufd(NULL, 0, 1, &d), EINVAL);
	CHECK_ERR(gmem_dma_map(NULL, NULL), EINVAL);
	CHECK_ERR(gmem_dma_unmap(NULL, NULL), EINVAL);
	CHECK_ERR(gmem_dma_stats(NULL, &st), EINVAL);
	CHECK_ERR(gmem_dma_close(NULL), EINVAL);
}

/* Open both ways with fd; the result must be -err and nothing kept. */
#define REFUSED(vm, fd, err)						\
	do {								\
		struct gmem_dma *__d = NULL;				\
		CHECK_ERR(gmem_dma_open_vfio(vm, fd, &__d), err);	\
		CHECK(__d == NULL);					\
		CHECK_ERR(gmem_dma_open_iommufd(vm, fd, 1, &__d), err);	\
		CHECK(__d == NULL);					\
	} while (0)

/*
 * A closed or negative fd is EBADF; an open fd that is no container and
 * no iommufd (a device node, a memfd, a KVM VM) is ENOTTY.
 */
static void bad_fds_are_refused(void)
{
	struct gmem_dma *d;
	struct gmem_vm *vm;
	int fds0, null, mfd, closed;

	if (!t_need_kvm())
		return;
	CHECK_OK(gmem_vm_create(&vm));
	fds0 = t_count_fds();
	CHECK_ERR(gmem_dma_open_vfio(vm, 0, NULL), EINVAL);
	CHECK_ERR(gmem_dma_open_iommufd(vm, 0, 1, NULL), EINVAL);
	REFUSED(vm, -1, EBADF);
	closed = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(closed >= 0 && close(closed) == 0);
	REFUSED(vm, closed, EBADF);
	CHECK(strstr(gmem_last_error(), "not open"));
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	REFUSED(vm, null, ENOTTY);
	CHECK(strstr(gmem_last_error(), "not an iommufd"));
	CHECK_ERR(gmem_dma_open_vfio(vm, null, &d), ENOTTY);
	CHECK(strstr(gmem_last_error(), "not a VFIO container"));
	mfd = memfd_create("test-dma-args", MFD_CLOEXEC);
	REFUSED(vm, mfd, ENOTTY);
	REFUSED(vm, gmem_vm_fd(vm), ENOTTY);
	close(mfd);
	close(null);
	/* Refusals keep nothing open. */
	CHECK(t_count_fds() == fds0);
	CHECK_OK(gmem_vm_close(vm));
}

/* gmemctl probe says what the library's probe found, in both forms. */
static void gmemctl_probe_reports_iommu_paths(void)
{
	static const char *const human[] = { "probe", NULL };
	static const char *const json[] = { "probe", "--json", NULL };
	struct gmem_dma_host h;

	CHECK_OK(gmem_dma_probe(&h));
	CHECK(t_gmemctl(human) == 0);
	CHECK(strstr(t_out, "VFIO type1"));
	CHECK(strstr(t_out, h.vfio_type1 ? "VFIO type1        usable"
					 : "VFIO type1        no"));
	CHECK(strstr(t_out, h.iommufd ? "iommufd           usable"
				      : "iommufd           no"));
	CHECK(strstr(t_out, "IOAS_MAP_FILE"));
	CHECK(t_gmemctl(json) == 0);
	CHECK(t_json_valid(t_out));
	CHECK(strstr(t_out, h.vfio_type1 ? "\"vfio_type1\": true"
					 : "\"vfio_type1\": false"));
	CHECK(strstr(t_out, h.iommufd_map_file == 1 ? "\"map_file\": \"yes\"" :
			    h.iommufd_map_file == 0 ? "\"map_file\": \"no\"" :
			    "\"map_file\": \"unknown\""));
}

static const struct t_case cases[] = {
	T_CASE(probe_null_is_einval),
	T_CASE(probe_matches_the_machine),
	T_CASE(null_arguments),
	T_CASE(bad_fds_are_refused),
	T_CASE(gmemctl_probe_reports_iommu_paths),
};

T_MAIN(cases)
