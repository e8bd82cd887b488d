// SPDX-License-Identifier: MIT
/*
 * ctl.c - the control port (ctl.h): how the guest's check program asks
 * for a discard of its RAM, marks the start of its init, and powers the
 * machine off with a status, like QEMU's isa-debug-exit.
 */
#include <errno.h>

#include "ctl.h"
#include "vmm.h"

static void command(struct vmm *v, uint32_t cmd)
{
	int ret = 0;

	switch (cmd) {
	case CTL_CMD_DISCARD:
		ret = mem_discard(v, v->ctl_addr, v->ctl_len);
		break;
	case CTL_CMD_INIT:
		if (!v->t_init) {
			v->t_init = vmm_now() - v->t_start;
			vmm_log("guest init started %.3f s after gmem-vmm did "
				"(machine ready at %.3f s, prealloc %.3f s; "
				"wall time on this host, which under an "
				"emulator measures the emulator)", v->t_init,
				v->t_ready, v->mem.populate_seconds);
			kvm_stats_report(v, "at guest init");
			mem_report(v, "at guest init");
		}
		break;
	case CTL_CMD_REPORT:
		mem_report(v, "now");
		kvm_stats_report(v, "now");
		break;
	default:
		ret = -EINVAL;
		break;
	}
	v->ctl_status = (uint32_t)-ret;
}

void ctl_io(struct vmm *v, uint16_t port, bool write, uint32_t *data)
{
	unsigned int reg = (unsigned int)(port - CTL_PORT_BASE);

	if (!write) {
		switch (reg) {
		case CTL_REG_MAGIC: *data = CTL_MAGIC; break;
		case CTL_REG_PAGE: *data = (uint32_t)v->mem.page_size; break;
		case CTL_REG_CMD: *data = v->ctl_status; break;
		default: *data = 0; break;
		}
		return;
	}
	switch (reg) {
	case CTL_REG_ADDR:
		v->ctl_addr = (uint64_t)*data << CTL_UNIT_SHIFT;
		break;
	case CTL_REG_LEN:
		v->ctl_len = (uint64_t)*data << CTL_UNIT_SHIFT;
		break;
	case CTL_REG_CMD:
		command(v, *data);
		break;
	case CTL_REG_EXIT:
		v->exit_status = (int)(*data & 0xff);
		vmm_log("guest powered off with status %d", v->exit_status);
		break;
	}
}
