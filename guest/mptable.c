#include "mptable.h"
#include "io.h"
#include "lib.h"

#define MP_FP_SIG		0x5f504d5f	/* "_MP_" */
#define MP_CT_SIG		0x504d4350	/* "PCMP" */

struct mp_fp {
	u32 signature;
	u32 config_paddr;
	u8 length;		/* in 16-byte units */
	u8 spec_rev;
	u8 checksum;
	u8 feature[5];		/* feature[0] != 0: default config, no table */
} __packed;

struct mp_config {
	u32 signature;
	u16 base_length;
	u8 spec_rev;
	u8 checksum;
	char oem_id[8];
	char product_id[12];
	u32 oem_table_paddr;
	u16 oem_table_size;
	u16 entry_count;
	u32 lapic_addr;
	u16 ext_length;
	u8 ext_checksum;
	u8 reserved;
} __packed;

enum {
	MP_ENTRY_CPU = 0,
	MP_ENTRY_BUS = 1,
	MP_ENTRY_IOAPIC = 2,
	MP_ENTRY_IOINTR = 3,
	MP_ENTRY_LINTR = 4,
};

struct mp_entry_cpu {
	u8 type;
	u8 apic_id;
	u8 apic_version;
	u8 flags;
	u32 signature;
	u32 features;
	u32 reserved[2];
} __packed;

struct mp_entry_ioapic {
	u8 type;
	u8 id;
	u8 version;
	u8 flags;		/* bit 0: enabled */
	u32 addr;
} __packed;

/* BIOS data area words locating the EBDA; checked before use. */
#define BDA_EBDA_SEG		0x40e
#define EBDA_MIN		0x80000
#define EBDA_MAX		0xa0000

static u8 checksum(const void *p, size_t n)
{
	const u8 *b = p;
	u8 sum = 0;

	while (n--)
		sum += *b++;
	return sum;
}

/* Probe 16-byte boundaries; the VMM should put it first in its range. */
static const struct mp_fp *scan(unsigned long start, unsigned long end)
{
	for (; start < end; start += 16) {
		const struct mp_fp *fp = phys_to_virt(start);

		if (fp->signature == MP_FP_SIG && fp->length &&
		    !checksum(fp, fp->length * 16))
			return fp;
	}
	return NULL;
}

static const struct mp_fp *find_fp(void)
{
	unsigned long ebda = *(u16 *)phys_to_virt(BDA_EBDA_SEG) << 4;
	const struct mp_fp *fp = NULL;

	if (ebda >= EBDA_MIN && ebda < EBDA_MAX)
		fp = scan(ebda, ebda + 1024);
	return fp ? fp : scan(0xf0000, 0x100000);
}

static void add_entry(struct mp_info *mp, const u8 *e)
{
	const struct mp_entry_cpu *cpu = (const void *)e;
	const struct mp_entry_ioapic *io = (const void *)e;

	if (*e == MP_ENTRY_CPU && (cpu->flags & MP_CPU_ENABLED)) {
		if (mp->ncpus < MP_MAX_CPUS) {
			mp->cpus[mp->ncpus].apic_id = cpu->apic_id;
			mp->cpus[mp->ncpus].flags = cpu->flags;
		}
		mp->ncpus++;
	} else if (*e == MP_ENTRY_IOAPIC && (io->flags & 1)) {
		if (!mp->nioapics++) {
			mp->ioapic_addr = io->addr;
			mp->ioapic_id = io->id;
		}
	}
}

const char *mp_parse(struct mp_info *mp)
{
	const struct mp_fp *fp = find_fp();
	const struct mp_config *ct;
	const u8 *e, *end;
	unsigned int i;

	memset(mp, 0, sizeof(*mp));
	if (!fp)
		return "no floating pointer";
	if (fp->feature[0] || !fp->config_paddr)
		return "default configuration, no table";
	ct = phys_to_virt(fp->config_paddr);
	if (ct->signature != MP_CT_SIG)
		return "bad config table signature";
	if (ct->base_length < sizeof(*ct) || checksum(ct, ct->base_length))
		return "bad config table checksum";
	if ((u8)(checksum((const u8 *)ct + ct->base_length, ct->ext_length) +
		 ct->ext_checksum))
		return "bad extended table checksum";

	mp->lapic_addr = ct->lapic_addr;
	e = (const u8 *)(ct + 1);
	end = (const u8 *)ct + ct->base_length;
	for (i = 0; i < ct->entry_count && e < end; i++) {
		add_entry(mp, e);
		/* Processor entries are 20 bytes, all others 8. */
		e += *e == MP_ENTRY_CPU ? sizeof(struct mp_entry_cpu) : 8;
	}
	if (i != ct->entry_count)
		return "entries overrun the table";
	return NULL;
}
