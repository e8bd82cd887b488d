// SPDX-License-Identifier: MIT
/*
 * pci.c - a PCI bus with only its host bridge, reached through
 * configuration mechanism #1 (ports 0xcf8 and 0xcfc-0xcff).
 *
 * Why a VMM without PCI devices needs one: Linux registers the e820
 * ranges that drivers may claim (such as the memmap=nn!ss window that
 * becomes /dev/pmem0) only in its PCI resource survey, which it skips when
 * it finds no working configuration space.
 */
#include <string.h>

#include "vmm.h"

#define CONFIG_ENABLE	0x80000000U	/* bit 31 of the address register */
#define CONFIG_BDF_REG	0x00fffffcU	/* bus, device, function, register */

/*
 * 1b36:0008, the ID Red Hat assigned to a virtual machine's generic PCI
 * host bridge: no chipset quirks in Linux match it.
 */
#define BRIDGE_VENDOR	0x1b36
#define BRIDGE_DEVICE	0x0008
#define CLASS_HOST	0x060000	/* bridge, host, no programming i/f */

/* Configuration space of 00:00.0; everything not set reads zero. */
static uint8_t bridge_config(unsigned int off)
{
	switch (off) {
	case 0x00: return BRIDGE_VENDOR & 0xff;
	case 0x01: return BRIDGE_VENDOR >> 8;
	case 0x02: return BRIDGE_DEVICE & 0xff;
	case 0x03: return BRIDGE_DEVICE >> 8;
	case 0x09: return CLASS_HOST & 0xff;
	case 0x0a: return (CLASS_HOST >> 8) & 0xff;
	case 0x0b: return CLASS_HOST >> 16;
	default: return 0;	/* header type 0, no BARs, no IRQ */
	}
}

void pci_io(struct vmm *v, uint16_t port, bool write, uint8_t *data,
	    unsigned int size)
{
	uint32_t addr = v->pci_addr;

	/* Only whole-dword accesses to 0xcf8 are the address register. */
	if (port == PCI_CONFIG_ADDR) {
		if (size != 4) {
			if (!write)
				memset(data, 0xff, size);
		} else if (write) {
			memcpy(&v->pci_addr, data, 4);
		} else {
			memcpy(data, &v->pci_addr, 4);
		}
		return;
	}
	if (port < PCI_CONFIG_DATA || port + size > PCI_CONFIG_DATA + 4)
		goto nothing;
	/* Writes go nowhere: the bridge has nothing to configure. */
	if (write)
		return;
	/* Bus 0, device 0, function 0, or no device at all. */
	if (!(addr & CONFIG_ENABLE) || (addr & CONFIG_BDF_REG & ~0xffU))
		goto nothing;
	for (unsigned int i = 0; i < size; i++)
		data[i] = bridge_config((addr & 0xfc) + port -
					PCI_CONFIG_DATA + i);
	return;
nothing:
	if (!write)
		memset(data, 0xff, size);	/* no device answers */
}
