// SPDX-License-Identifier: MIT
/*
 * serial.c - COM1: a 16550A UART at port 0x3f8 whose interrupt goes to
 * IRQ 4 of the in-kernel PIC and IOAPIC.  What the guest sends comes out
 * on stdout; nothing is ever received, except in the loopback mode that
 * Linux's driver uses to find the chip.
 *
 * Register numbers and bits are the 8250 family's, as in any data sheet.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm.h"

enum {
	REG_DATA = 0,	/* RBR read, THR write; DLL when DLAB is set */
	REG_IER = 1,	/* DLM when DLAB is set */
	REG_IIR = 2,	/* read; FCR on write */
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_RDA		0x01	/* interrupt when a byte arrives */
#define IER_THRE	0x02	/* interrupt when the transmitter empties */
#define IER_MASK	0x0f

#define IIR_NONE	0x01
#define IIR_THRE	0x02
#define IIR_RDA		0x04
#define IIR_FIFO	0xc0	/* both bits: a 16550A with working FIFOs */

#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02

#define LCR_DLAB	0x80

#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10

#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

void serial_init(struct serial *s)
{
	memset(s, 0, sizeof(*s));
	s->irq_level = -1;
}

void serial_flush(struct serial *s)
{
	size_t done = 0;

	while (done < s->out_len) {
		ssize_t n = write(STDOUT_FILENO, s->out + done,
				  s->out_len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* stdout is gone; the guest runs on */
		done += (size_t)n;
	}
	s->out_len = 0;
}

static void transmit(struct serial *s, uint8_t c)
{
	if (s->mcr & MCR_LOOP) {
		if (s->rx_len < sizeof(s->rx))
			s->rx[s->rx_len++] = c;
		return;
	}
	s->out[s->out_len++] = (char)c;
	if (c == '\n' || s->out_len == sizeof(s->out))
		serial_flush(s);
}

/* The highest-priority interrupt now due, as IIR shows it. */
static uint8_t pending(const struct serial *s)
{
	if ((s->ier & IER_RDA) && s->rx_len)
		return IIR_RDA;
	if ((s->ier & IER_THRE) && s->thre_pending)
		return IIR_THRE;
	return IIR_NONE;
}

/*
 * Tell KVM the line's level when it changes.  The PIC sees ISA IRQs as
 * edge-triggered, so each new interrupt needs the line to have dropped
 * first, as the guest's IIR read or THR write makes it do.
 */
static void update_irq(struct vmm *v)
{
	struct serial *s = &v->com1;
	struct kvm_irq_level irq = { .irq = COM1_IRQ };
	int level = pending(s) != IIR_NONE;

	if (level == s->irq_level)
		return;
	irq.level = (uint32_t)level;
	if (ioctl(v->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		vmm_log("warning: KVM_IRQ_LINE %d: %s", COM1_IRQ,
			strerror(errno));
	s->irq_level = level;
}

/* Modem status: always "connected", or the MCR looped back. */
static uint8_t modem_status(const struct serial *s)
{
	uint8_t msr = 0;

	if (!(s->mcr & MCR_LOOP))
		return MSR_CTS | MSR_DSR | MSR_DCD;
	if (s->mcr & MCR_RTS)
		msr |= MSR_CTS;
	if (s->mcr & MCR_DTR)
		msr |= MSR_DSR;
	if (s->mcr & MCR_OUT1)
		msr |= MSR_RI;
	if (s->mcr & MCR_OUT2)
		msr |= MSR_DCD;
	return msr;
}

static uint8_t serial_read(struct serial *s, unsigned int reg)
{
	bool dlab = s->lcr & LCR_DLAB;
	uint8_t val;

	switch (reg) {
	case REG_DATA:
		if (dlab)
			return s->dll;
		if (!s->rx_len)
			return 0;
		val = s->rx[0];
		memmove(s->rx, s->rx + 1, --s->rx_len);
		return val;
	case REG_IER:
		return dlab ? s->dlm : s->ier;
	case REG_IIR:
		val = pending(s);
		/* Reading IIR is how the guest acknowledges "THR empty". */
		if (val == IIR_THRE)
			s->thre_pending = false;
		return val | (s->fcr & FCR_ENABLE ? IIR_FIFO : 0);
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		/* We send at once, so the transmitter is always empty. */
		return LSR_THRE | LSR_TEMT | (s->rx_len ? LSR_DR : 0);
	case REG_MSR:
		return modem_status(s);
	default:
		return s->scr;
	}
}

static void serial_write(struct serial *s, unsigned int reg, uint8_t val)
{
	bool dlab = s->lcr & LCR_DLAB;

	switch (reg) {
	case REG_DATA:
		if (dlab) {
			s->dll = val;
			break;
		}
		transmit(s, val);
		/* Sent already: THR is empty again, which interrupts anew. */
		s->thre_pending = true;
		break;
	case REG_IER:
		if (dlab) {
			s->dlm = val;
			break;
		}
		/* Enabling the interrupt while THR is empty raises it. */
		if ((val & IER_THRE) && !(s->ier & IER_THRE))
			s->thre_pending = true;
		s->ier = val & IER_MASK;
		break;
	case REG_IIR:
		s->fcr = val;
		if (val & FCR_CLEAR_RX)
			s->rx_len = 0;
		break;
	case REG_LCR:
		s->lcr = val;
		break;
	case REG_MCR:
		s->mcr = val & 0x1f;
		break;
	case REG_SCR:
		s->scr = val;
		break;
	default:	/* LSR and MSR are read-only */
		break;
	}
}

void serial_io(struct vmm *v, uint16_t port, bool write, uint8_t *data)
{
	unsigned int reg = (unsigned int)(port - COM1_PORT);

	if (write)
		serial_write(&v->com1, reg, *data);
	else
		*data = serial_read(&v->com1, reg);
	update_irq(v);
}
