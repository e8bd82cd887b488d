// SPDX-License-Identifier: MIT
/*
 * rtc.c - the CMOS clock at ports 0x70/0x71, read-only: it tells the
 * guest the host's UTC time and that no update is in progress.  Without
 * it Linux waits for an update-in-progress bit that never clears.
 *
 * Register numbers and bits are the MC146818's.
 */
#include <time.h>

#include "vmm.h"

#define RTC_SECONDS	0x00
#define RTC_MINUTES	0x02
#define RTC_HOURS	0x04
#define RTC_WEEKDAY	0x06
#define RTC_DAY		0x07
#define RTC_MONTH	0x08
#define RTC_YEAR	0x09
#define RTC_REG_A	0x0a	/* bit 7: update in progress */
#define RTC_REG_B	0x0b	/* bit 1: 24-hour clock; bit 2 clear: BCD */
#define RTC_REG_D	0x0d	/* bit 7: the battery and time are valid */
#define RTC_CENTURY	0x32

#define REG_A_DIVIDER	0x26	/* 32.768 kHz base, 1024 Hz rate */
#define REG_B_24H	0x02
#define REG_D_VALID	0x80

static uint8_t bcd(int n)
{
	return (uint8_t)((n / 10) << 4 | n % 10);
}

static uint8_t rtc_read(uint8_t reg)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (reg) {
	case RTC_SECONDS: return bcd(tm.tm_sec);
	case RTC_MINUTES: return bcd(tm.tm_min);
	case RTC_HOURS: return bcd(tm.tm_hour);
	case RTC_WEEKDAY: return bcd(tm.tm_wday + 1);
	case RTC_DAY: return bcd(tm.tm_mday);
	case RTC_MONTH: return bcd(tm.tm_mon + 1);
	case RTC_YEAR: return bcd(tm.tm_year % 100);
	case RTC_CENTURY: return bcd(19 + tm.tm_year / 100);
	case RTC_REG_A: return REG_A_DIVIDER;
	case RTC_REG_B: return REG_B_24H;
	case RTC_REG_D: return REG_D_VALID;
	default: return 0;	/* alarms off, no flags, empty CMOS */
	}
}

void rtc_io(struct vmm *v, uint16_t port, bool write, uint8_t *data)
{
	if (port == RTC_INDEX_PORT) {
		/* Bit 7 of the index masks NMIs on a PC; we have none. */
		if (write)
			v->rtc_index = *data & 0x7f;
		else
			*data = 0xff;
		return;
	}
	if (!write)
		*data = rtc_read(v->rtc_index);
	/* Setting the clock would set the host's: ignore it. */
}
