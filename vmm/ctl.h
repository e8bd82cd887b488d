/* SPDX-License-Identifier: MIT */
/*
 * ctl.h - the gmem-vmm control port: the I/O-port ABI that the guest's
 * check program and the VMM share (discard a range, mark init, power off).
 *
 * It is a paravirtual device of our own, not a PC part: a real machine has
 * no way for a guest to ask the host to punch a hole in its RAM.  Ports are
 * 32 bits wide; addresses and lengths are guest-physical, in 4 KiB units,
 * so one 32-bit write covers 16 TiB.
 */
#ifndef GMEM_VMM_CTL_H
#define GMEM_VMM_CTL_H

#define CTL_PORT_BASE	0x0f00	/* no legacy PC device sits here */
#define CTL_PORT_COUNT	0x20

#define CTL_REG_MAGIC	0x00	/* read: CTL_MAGIC */
#define CTL_REG_PAGE	0x04	/* read: smallest discard unit, bytes */
#define CTL_REG_ADDR	0x08	/* write: start of the range, 4 KiB units */
#define CTL_REG_LEN	0x0c	/* write: length of the range, 4 KiB units */
#define CTL_REG_CMD	0x10	/* write: CTL_CMD_*; read: its errno */
#define CTL_REG_EXIT	0x14	/* write: power off, exit status & 255 */

#define CTL_MAGIC	0x4d454d47	/* "GMEM" in little-endian bytes */
#define CTL_UNIT_SHIFT	12

#define CTL_CMD_DISCARD	1	/* gmem_discard the RAM behind [ADDR, +LEN) */
#define CTL_CMD_INIT	2	/* the guest's init started: note the time */
#define CTL_CMD_REPORT	3	/* print RAM and KVM figures now */

#endif /* GMEM_VMM_CTL_H */
