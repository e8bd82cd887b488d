// SPDX-License-Identifier: MIT
/*
 * exits.c - the vCPU loop: run the guest, send its port and MMIO accesses
 * to the part of the PC that owns them, and end on power-off, reset, a
 * triple fault or a signal, with the status the VMM then exits with.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "ctl.h"
#include "vmm.h"

#define KBD_STATUS_PORT	0x64	/* 8042 keyboard controller command port */
#define KBD_CMD_RESET	0xfe	/* pulse the CPU reset line */
#define RESET_CTRL_PORT	0xcf9	/* PIIX/ICH reset control register */
#define RESET_CTRL_CPU	0x04	/* "reset CPU" bit */
#define POST_PORT	0x80	/* POST codes; Linux writes it to wait */

static volatile sig_atomic_t stop_signal;
static struct kvm_run *signal_run;

/* Make the next (or current) KVM_RUN return at once, with EINTR. */
static void on_signal(int sig)
{
	stop_signal = sig;
	if (signal_run)
		signal_run->immediate_exit = 1;
}

/* Early, so that a signal during prealloc also ends in vmm_run(). */
void vmm_stop_on_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static void machine_reset(struct vmm *v, const char *how)
{
	vmm_log("guest reset the machine (%s) without giving a status; a "
		"panic with panic=-1 or a reboot ends here", how);
	v->exit_status = VMM_EXIT_NO_STATUS;
}

static void unknown(struct vmm *v, const char *what, uint64_t addr,
		    bool write)
{
	bool first = true;

	if (what[0] == 'p') {
		v->unknown_ports++;
		first = !(v->port_seen[addr / 8] & (1 << addr % 8));
		v->port_seen[addr / 8] |= (uint8_t)(1 << addr % 8);
	} else {
		v->unknown_mmio++;
	}
	if (first)
		vmm_verbose(v, "%s %s 0x%llx: nothing there", what,
			    write ? "write to" : "read from",
			    (unsigned long long)addr);
}

/* One access of size bytes; reads answer in *data. */
static void port_io(struct vmm *v, uint16_t port, bool write,
		    uint8_t *data, unsigned int size)
{
	uint32_t val = 0;

	if (port >= COM1_PORT && port < COM1_PORT + 8) {
		serial_io(v, port, write, data);
	} else if (port >= CTL_PORT_BASE &&
		   port < CTL_PORT_BASE + CTL_PORT_COUNT) {
		memcpy(&val, data, size);
		ctl_io(v, port, write, &val);
		if (!write)
			memcpy(data, &val, size);
	} else if (port == RTC_INDEX_PORT || port == RTC_DATA_PORT) {
		rtc_io(v, port, write, data);
	} else if (port == KBD_STATUS_PORT && write &&
		   data[0] == KBD_CMD_RESET) {
		machine_reset(v, "keyboard controller reset");
	} else if (port == RESET_CTRL_PORT && write && size == 1) {
		/* A byte in the middle of the PCI address register. */
		if (data[0] & RESET_CTRL_CPU)
			machine_reset(v, "reset control register");
	} else if (port >= PCI_CONFIG_ADDR && port < PCI_CONFIG_DATA + 4) {
		pci_io(v, port, write, data, size);
	} else if (port == POST_PORT) {
		/* Nothing to do, and too common to log. */
	} else {
		/* An empty ISA bus reads as all ones. */
		if (!write)
			memset(data, 0xff, size);
		unknown(v, "port", port, write);
	}
}

static void io_exit(struct vmm *v)
{
	struct kvm_run *run = v->cpu.run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;

	/* String instructions (rep outsb) come as count items. */
	for (uint32_t i = 0; i < run->io.count; i++) {
		port_io(v, run->io.port, write, data, run->io.size);
		data += run->io.size;
	}
}

/* No MMIO devices: reads see all ones, writes are dropped. */
static void mmio_exit(struct vmm *v)
{
	struct kvm_run *run = v->cpu.run;

	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
	unknown(v, "MMIO", run->mmio.phys_addr, run->mmio.is_write);
}

/* Returns the guest's status, or -errno if the VMM cannot go on. */
int vmm_run(struct vmm *v)
{
	struct kvm_run *run = v->cpu.run;

	v->exit_status = -1;
	signal_run = run;
	while (v->exit_status < 0) {
		/*
		 * A signal before this check ends the loop here; one after it
		 * has set immediate_exit, so KVM_RUN returns at once.
		 */
		if (stop_signal) {
			/* Where a guest that hung was hanging. */
			vmm_log("stopped by signal %d (%s), the vCPU at rip "
				"0x%llx", (int)stop_signal,
				strsignal(stop_signal),
				(unsigned long long)cpu_rip(v));
			return 128 + stop_signal;
		}
		if (ioctl(v->cpu.fd, KVM_RUN, 0) < 0) {
			int err = errno;

			if (err == EINTR || err == EAGAIN)
				continue;
			vmm_log("error: KVM_RUN: %s (exit reason %u)",
				strerror(err), run->exit_reason);
			return -err;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			io_exit(v);
			break;
		case KVM_EXIT_MMIO:
			mmio_exit(v);
			break;
		case KVM_EXIT_SHUTDOWN:
			/* A triple fault: Linux's last way to reboot. */
			machine_reset(v, "triple fault");
			vmm_log("the vCPU was at rip 0x%llx",
				(unsigned long long)cpu_rip(v));
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			machine_reset(v, "system event");
			break;
		case KVM_EXIT_HLT:
			/* Only without an in-kernel APIC: nothing wakes it. */
			vmm_log("guest halted with nothing to wake it");
			v->exit_status = VMM_EXIT_NO_STATUS;
			break;
		case KVM_EXIT_FAIL_ENTRY:
			vmm_log("error: KVM could not enter the guest, "
				"hardware reason 0x%llx",
				(unsigned long long)run->fail_entry
					.hardware_entry_failure_reason);
			return -EIO;
		case KVM_EXIT_INTERNAL_ERROR:
			vmm_log("error: KVM internal error %u at rip 0x%llx",
				run->internal.suberror,
				(unsigned long long)cpu_rip(v));
			return -EIO;
		default:
			vmm_log("error: unexpected KVM exit %u at rip 0x%llx",
				run->exit_reason,
				(unsigned long long)cpu_rip(v));
			return -EIO;
		}
	}
	if (v->unknown_ports || v->unknown_mmio)
		vmm_verbose(v, "%llu port and %llu MMIO accesses to nothing",
			    (unsigned long long)v->unknown_ports,
			    (unsigned long long)v->unknown_mmio);
	return v->exit_status;
}
