/*
 * evvm-linuxboot: the boot-protocol contract guest. Booted as a Linux
 * kernel (vmlinux ELF or bzImage, 64-bit entry), it checks what the loader
 * handed it: entry state, boot_params, command line, e820, virtio-mmio
 * words, initrd, MP table, and AP start-up the way Linux does it. One line
 * per check, a summary, then the status through the exit port.
 * docs/guest.md ("The boot-protocol contract guest") is the contract.
 */
#include "cpu.h"
#include "exit.h"
#include "io.h"
#include "irq.h"
#include "lapic.h"
#include "lib.h"
#include "mptable.h"
#include "printf.h"
#include "smp.h"
#include "linuxboot.h"

#define PREFIX			"evvm-linuxboot: "

#define FOUR_GIB		(1ULL << 32)
/* Its own numbers, not vmm/layout.h: this stand-in for Linux checks evvm's contract. */
#define BASE_RAM_END		0x9fc00		/* 639 KiB: the EBDA may take 1 KiB */
#define ISA_HOLE		0xa0000
#define HIGH_START		0x100000
#define IOAPIC_ADDR		0xfec00000UL
#define LAPIC_ADDR		0xfee00000UL
#define APIC_WINDOW		0x1000
#define E820_RAM		1
#define MAX_VIRTIO		16
#define MAX_SETUP_DATA		32

#define X86_CR0_PG_BIT		X86_CR0_PG
#define EFER_LONG		(EFER_LME | EFER_LMA)

/* Segment descriptor bits. */
#define DESC_P			(1ULL << 47)
#define DESC_S			(1ULL << 44)
#define DESC_CODE		(1ULL << 43)
#define DESC_RW			(1ULL << 41)	/* code: readable; data: writable */
#define DESC_L			(1ULL << 53)
#define DESC_DB			(1ULL << 54)
#define DESC_G			(1ULL << 55)

struct entry_state {
	u64 path;		/* 64 or 32: the entry that ran */
	u64 entry;		/* the address the loader jumped to */
	u64 zero_page;		/* %rsi / %esi */
	u64 cr0, cr3, cr4, efer, rflags;
	u16 cs, ds, es, ss;
	u8 gdtr[10];		/* sgdt: limit, base */
	u8 pad[6];
} __packed;

_Static_assert(offsetof(struct entry_state, entry) == ES_ENTRY, "ES_ENTRY");
_Static_assert(offsetof(struct entry_state, zero_page) == ES_ZERO_PAGE, "ES_ZERO_PAGE");
_Static_assert(offsetof(struct entry_state, rflags) == ES_RFLAGS, "ES_RFLAGS");
_Static_assert(offsetof(struct entry_state, cs) == ES_CS, "ES_CS");
_Static_assert(offsetof(struct entry_state, ss) == ES_SS, "ES_SS");
_Static_assert(offsetof(struct entry_state, gdtr) == ES_GDTR, "ES_GDTR");
_Static_assert(sizeof(struct entry_state) == ES_SIZE, "ES_SIZE");

extern struct entry_state entry_state;		/* head.S */
extern const char _text[], _end[];		/* linuxboot.ld */

__noreturn void linuxboot_main(void);

typedef u16 __attribute__((may_alias, aligned(1))) u16u;
typedef u32 __attribute__((may_alias, aligned(1))) u32u;
typedef u64 __attribute__((may_alias, aligned(1))) u64u;

/* boot_params as the loader handed it, copied before anything else. */
static u8 zp[BP_SIZE] __aligned(16);
static u64 zp_addr;

static u8 bp8(u32 off)
{
	return zp[off];
}

static u16 bp16(u32 off)
{
	return *(const u16u *)(zp + off);
}

static u32 bp32(u32 off)
{
	return *(const u32u *)(zp + off);
}

static u64 bp64(u32 off)
{
	return *(const u64u *)(zp + off);
}

static u32 rd32(u64 paddr)
{
	return *(const u32u *)phys_to_virt(paddr);
}

static u64 rd64(u64 paddr)
{
	return *(const u64u *)phys_to_virt(paddr);
}

/* [a, a + alen) and [b, b + blen) share a byte. */
static bool overlap(u64 a, u64 alen, u64 b, u64 blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* ---- reporting ---- */

static char why[512];
static size_t why_len;
static unsigned int passed, failed;
static bool verbose;

/* Add a reason to the running check; all reasons are printed, "; "-separated. */
static __printf(1, 2) void fail(const char *fmt, ...)
{
	va_list ap;

	if (why_len >= sizeof(why) - 1)
		return;
	if (why_len)
		why_len += snprintf(why + why_len, sizeof(why) - why_len, "; ");
	if (why_len < sizeof(why) - 1) {
		va_start(ap, fmt);
		why_len += vsnprintf(why + why_len, sizeof(why) - why_len, fmt, ap);
		va_end(ap);
	}
	if (why_len > sizeof(why) - 1)
		why_len = sizeof(why) - 1;
}

static void report(const char *check)
{
	if (why_len) {
		printf(PREFIX "%s: FAILED: %s\n", check, why);
		failed++;
	} else {
		printf(PREFIX "%s: ok\n", check);
		passed++;
	}
	why_len = 0;
	why[0] = '\0';
}

static __noreturn void usage_error(const char *key, const char *val)
{
	printf(PREFIX "bad %s value '%.64s'\n", key, val);
	guest_exit(EXIT_ERROR);
}

/* ---- the command line ---- */

static u64 cmdline_addr;
static size_t cmdline_len;
static bool cmdline_nul;	/* a NUL within LB_CMDLINE_SIZE + 1 bytes */
static char cmdline[LB_CMDLINE_SIZE + 1];
static char words[LB_CMDLINE_SIZE + 1];	/* whitespace turned into NULs */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

static void cmdline_copy(void)
{
	const char *src;
	u64 max = LB_CMDLINE_SIZE + 1;
	size_t i;

	cmdline_addr = bp32(HDR_CMD_LINE_PTR) |
		       (u64)bp32(BP_EXT_CMD_LINE_PTR) << 32;
	if (!cmdline_addr || cmdline_addr >= FOUR_GIB)
		return;
	if (max > FOUR_GIB - cmdline_addr)
		max = FOUR_GIB - cmdline_addr;
	src = phys_to_virt(cmdline_addr);
	cmdline_len = strnlen(src, max);
	cmdline_nul = cmdline_len < max;
	if (cmdline_len > LB_CMDLINE_SIZE)
		cmdline_len = LB_CMDLINE_SIZE;
	memcpy(cmdline, src, cmdline_len);
	for (i = 0; i < cmdline_len; i++)
		words[i] = is_space(cmdline[i]) ? '\0' : cmdline[i];
}

/* The word after @w, or NULL. */
static const char *next_word(const char *w)
{
	if (!w)
		w = words;
	else
		w += strlen(w) + 1;
	while (w < words + cmdline_len && !*w)
		w++;
	return w < words + cmdline_len ? w : NULL;
}

/* Value of the first "key=value" word, or NULL. */
static const char *arg(const char *key)
{
	size_t klen = strlen(key);
	const char *w = NULL;

	while ((w = next_word(w)))
		if (!strncmp(w, key, klen) && w[klen] == '=')
			return w + klen + 1;
	return NULL;
}

static int digit(char c, unsigned int base)
{
	int d;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	else
		return -1;
	return d < (int)base ? d : -1;
}

/*
 * An unsigned number as Linux's simple_strtoull(s, &end, base) reads it
 * (base 0: 0x hex, leading 0 octal, else decimal), then with @suffix a
 * memparse() K/M/G/T. Returns the end, or NULL if there are no digits or
 * it overflows.
 */
static const char *parse_num(const char *s, unsigned int base, bool suffix,
			     u64 *out)
{
	const char *start;
	u64 v = 0;
	int d;

	if (!base) {
		base = 10;
		if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
		    digit(s[2], 16) >= 0) {
			base = 16;
			s += 2;
		} else if (s[0] == '0') {
			base = 8;
		}
	} else if (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
	}
	start = s;
	for (; (d = digit(*s, base)) >= 0; s++) {
		if (v > (~0ULL - d) / base)
			return NULL;
		v = v * base + d;
	}
	if (s == start)
		return NULL;
	if (suffix) {
		unsigned int shift = 0;

		switch (*s) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		case 'T': case 't': shift = 40; break;
		}
		if (shift) {
			if (v > (~0ULL >> shift))
				return NULL;
			v <<= shift;
			s++;
		}
	}
	*out = v;
	return s;
}

/* linuxboot.<key>=<number>: false if absent; a bad number is a usage error. */
static bool opt_num(const char *key, unsigned int base, bool suffix, u64 *v)
{
	const char *s = arg(key);
	const char *end;

	if (!s)
		return false;
	end = parse_num(s, base, suffix, v);
	if (!end || *end)
		usage_error(key, s);
	return true;
}

static u64 opt_mem, opt_cpus, opt_virtio, opt_initrd_size, opt_initrd_sum;
static u64 opt_acpi = 1;	/* linuxboot.acpi=0: expect no ACPI tables */
static bool have_mem, have_cpus, have_virtio, have_initrd_size, have_initrd_sum;

static const char *const known_keys[] = {
	"linuxboot.mem", "linuxboot.cpus", "linuxboot.expect-virtio",
	"linuxboot.initrd-size", "linuxboot.initrd-sum", "linuxboot.verbose",
	"linuxboot.acpi",
};

/* A misspelt key must not weaken a check silently. */
static void check_keys(void)
{
	const char *w = NULL, *eq;
	unsigned int i;

	while ((w = next_word(w))) {
		if (strncmp(w, "linuxboot.", 10))
			continue;
		eq = strchr(w, '=');
		for (i = 0; eq && i < ARRAY_SIZE(known_keys); i++)
			if ((size_t)(eq - w) == strlen(known_keys[i]) &&
			    !strncmp(w, known_keys[i], eq - w))
				break;
		if (!eq || i == ARRAY_SIZE(known_keys)) {
			printf(PREFIX "unknown option '%.64s'\n", w);
			guest_exit(EXIT_ERROR);
		}
	}
}

static void parse_options(void)
{
	u64 v;

	check_keys();

	have_mem = opt_num("linuxboot.mem", 0, true, &opt_mem);
	have_cpus = opt_num("linuxboot.cpus", 10, false, &opt_cpus);
	have_virtio = opt_num("linuxboot.expect-virtio", 10, false, &opt_virtio);
	have_initrd_size = opt_num("linuxboot.initrd-size", 0, false,
				   &opt_initrd_size);
	have_initrd_sum = opt_num("linuxboot.initrd-sum", 16, false,
				  &opt_initrd_sum);
	if (have_initrd_sum && opt_initrd_sum > 0xffffffffULL)
		usage_error("linuxboot.initrd-sum", arg("linuxboot.initrd-sum"));
	if (have_mem && opt_mem < HIGH_START)
		usage_error("linuxboot.mem", arg("linuxboot.mem"));
	if (have_cpus && (!opt_cpus || opt_cpus > MAX_CPUS))
		usage_error("linuxboot.cpus", arg("linuxboot.cpus"));
	verbose = opt_num("linuxboot.verbose", 10, false, &v) && v;
	if (opt_num("linuxboot.acpi", 10, false, &opt_acpi) && opt_acpi > 1)
		usage_error("linuxboot.acpi", arg("linuxboot.acpi"));
}

/* ---- virtio_mmio.device=<size>@<base>:<irq>[:<id>] words ---- */

struct vdev {
	u64 base, size, irq;
};

static struct vdev vdevs[MAX_VIRTIO];
static unsigned int nvdev_words, nvdev;
static char vdev_bad[96];

#define VIRTIO_KEY		"virtio_mmio.device="

/* As Linux's vm_cmdline_set(): memparse, then sscanf("@%lli:%u%n:%d%n"). */
static bool parse_vdev(const char *s, struct vdev *d)
{
	u64 id;

	s = parse_num(s, 0, true, &d->size);
	if (!s || *s++ != '@')
		return false;
	s = parse_num(s, 0, false, &d->base);
	if (!s || *s++ != ':')
		return false;
	s = parse_num(s, 10, false, &d->irq);
	if (!s)
		return false;
	if (*s == ':') {
		s = parse_num(s + 1, 10, false, &id);
		if (!s)
			return false;
	}
	return !*s;
}

static void parse_virtio(void)
{
	size_t klen = strlen(VIRTIO_KEY);
	const char *w = NULL;
	struct vdev d;

	while ((w = next_word(w))) {
		if (strncmp(w, VIRTIO_KEY, klen))
			continue;
		nvdev_words++;
		if (!parse_vdev(w + klen, &d)) {
			if (!vdev_bad[0])
				snprintf(vdev_bad, sizeof(vdev_bad), "%s", w);
			continue;
		}
		if (nvdev < MAX_VIRTIO)
			vdevs[nvdev++] = d;
	}
}

/* ---- e820 ---- */

struct e820 {
	u64 addr, size;
	u32 type;
};

static struct e820 e820[BP_E820_MAX];
static unsigned int ne820;

static void e820_read(void)
{
	unsigned int i;

	ne820 = bp8(BP_E820_ENTRIES);
	if (ne820 > BP_E820_MAX)
		ne820 = BP_E820_MAX;
	for (i = 0; i < ne820; i++) {
		u32 off = BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;

		e820[i].addr = bp64(off);
		e820[i].size = bp64(off + 8);
		e820[i].type = bp32(off + 16);
	}
}

static u64 e820_end(const struct e820 *e)
{
	return e->addr + e->size;
}

/* Is [start, end) all e820 RAM (in any number of entries, in any order)? */
static bool ram_covers(u64 start, u64 end)
{
	bool progress = true;
	u64 pos = start;
	unsigned int i;

	while (pos < end && progress) {
		progress = false;
		for (i = 0; i < ne820; i++) {
			if (e820[i].type == E820_RAM && e820[i].addr <= pos &&
			    pos < e820_end(&e820[i])) {
				pos = e820_end(&e820[i]);
				progress = true;
			}
		}
	}
	return pos >= end;
}

/* The first RAM entry sharing a byte with [start, start + len), or NULL. */
static const struct e820 *ram_overlap(u64 start, u64 len)
{
	unsigned int i;

	for (i = 0; i < ne820; i++)
		if (e820[i].type == E820_RAM &&
		    overlap(e820[i].addr, e820[i].size, start, len))
			return &e820[i];
	return NULL;
}

static const char *e820_type(u32 type)
{
	static const char *const names[] = {
		[1] = "RAM", [2] = "reserved", [3] = "ACPI", [4] = "NVS",
		[5] = "unusable", [7] = "PMEM",
	};

	return type < ARRAY_SIZE(names) && names[type] ? names[type] : "other";
}

static void e820_print(void)
{
	unsigned int i;

	for (i = 0; i < ne820; i++)
		printf(PREFIX "e820: [0x%09lx, 0x%09lx) type %u %s\n",
		       e820[i].addr, e820_end(&e820[i]), e820[i].type,
		       e820_type(e820[i].type));
}

/* ---- the image and where it was loaded ---- */

static bool entered_64(void)
{
	return entry_state.path == 64;
}

/* The address the loader loaded the protected-mode code (or vmlinux) at. */
static u64 load_addr(void)
{
	return entered_64() ? entry_state.entry - LB_ENTRY64_OFFSET :
			      entry_state.entry;
}

/* Bytes from the load address the loader had to leave to the kernel. */
static u64 init_size(void)
{
	u64 image = (u64)(_end - _text);
	u64 hdr = bp32(HDR_INIT_SIZE);

	return hdr > image ? hdr : image;
}

static u64 initrd_addr(void)
{
	return bp32(HDR_RAMDISK_IMAGE) | (u64)bp32(BP_EXT_RAMDISK_IMAGE) << 32;
}

static u64 initrd_size(void)
{
	return bp32(HDR_RAMDISK_SIZE) | (u64)bp32(BP_EXT_RAMDISK_SIZE) << 32;
}

/* ---- entry ---- */

static u64 gdt_base(void)
{
	return *(const u64u *)(entry_state.gdtr + 2);
}

static u16 gdt_limit(void)
{
	return *(const u16u *)entry_state.gdtr;
}

static u32 desc_base(u64 d)
{
	return (u32)(((d >> 16) & 0xffffff) | ((d >> 56) << 24));
}

static u32 desc_limit(u64 d)
{
	return (u32)((d & 0xffff) | ((d >> 32) & 0xf0000));
}

/* The loader's descriptor @sel must be present, flat 4 GiB, code or data. */
static void check_desc(u16 sel, bool code, bool is64)
{
	u64 d, base = gdt_base() + (sel & ~7);

	if ((u32)(sel | 7) > gdt_limit()) {
		fail("GDT limit 0x%x has no selector 0x%x", gdt_limit(), sel);
		return;
	}
	if (base + 8 > FOUR_GIB) {
		fail("GDT at 0x%lx is above 4 GiB, not checked", gdt_base());
		return;
	}
	d = rd64(base);
	if (!(d & DESC_P) || !(d & DESC_S) || !(d & DESC_CODE) != !code ||
	    !(d & DESC_RW)) {
		fail("GDT[0x%x] = 0x%016lx is not a present %s segment", sel, d,
		     code ? "execute/read code" : "read/write data");
		return;
	}
	if (desc_base(d) || desc_limit(d) != 0xfffff || !(d & DESC_G))
		fail("GDT[0x%x] = 0x%016lx is not flat 4 GiB (base 0x%x, "
		     "limit 0x%x%s)", sel, d, desc_base(d), desc_limit(d),
		     d & DESC_G ? " pages" : " bytes");
	if (code && is64 && (!(d & DESC_L) || (d & DESC_DB)))
		fail("GDT[0x%x] = 0x%016lx is not a 64-bit code segment (L=1, D=0)",
		     sel, d);
	if (code && !is64 && ((d & DESC_L) || !(d & DESC_DB)))
		fail("GDT[0x%x] = 0x%016lx is not a 32-bit code segment (L=0, D=1)",
		     sel, d);
}

/*
 * Where @va leads under the loader's 4-level page tables: the physical
 * address, with *span = bytes to the end of its page. -1: not present;
 * -2: a table above 4 GiB (not readable here).
 */
static s64 walk(u64 va, u64 *span)
{
	static const unsigned int shift[4] = { 39, 30, 21, 12 };
	const u64 addr_mask = 0x000ffffffffff000ULL;
	u64 table = entry_state.cr3 & addr_mask;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		u64 e, size = 1ULL << shift[i];

		if (table >= FOUR_GIB)
			return -2;
		e = rd64(table + ((va >> shift[i]) & 511) * 8);
		if (!(e & 1))
			return -1;
		if ((i == 1 || i == 2) && (e & 0x80)) {
			*span = size - (va & (size - 1));
			return (s64)((e & addr_mask & ~(size - 1)) |
				     (va & (size - 1)));
		}
		table = e & addr_mask;
	}
	*span = 4096 - (va & 4095);
	return (s64)(table | (va & 4095));
}

/* Is [start, start + len) identity-mapped by the loader's page tables? */
static void check_ident(const char *what, u64 start, u64 len)
{
	u64 va = start, span;
	s64 pa;

	while (va < start + len) {
		pa = walk(va, &span);
		if (pa == -2) {
			if (verbose)
				printf(PREFIX "entry: page tables above 4 GiB, %s not checked\n",
				       what);
			return;
		}
		if (pa != (s64)va) {
			if (pa == -1)
				fail("the loader's page tables do not map 0x%lx (%s)",
				     va, what);
			else
				fail("the loader's page tables map 0x%lx (%s) to 0x%lx, not identity",
				     va, what, (u64)pa);
			return;
		}
		va += span;
	}
}

static void check_entry(void)
{
	const struct entry_state *es = &entry_state;
	bool is64 = entered_64();
	u64 load = load_addr();

	if (is64) {
		if ((es->cr0 & (X86_CR0_PE | X86_CR0_PG)) !=
		    (X86_CR0_PE | X86_CR0_PG))
			fail("CR0 0x%lx: paging is off", es->cr0);
		if (!(es->cr4 & X86_CR4_PAE))
			fail("CR4 0x%lx: no PAE", es->cr4);
		if ((es->efer & EFER_LONG) != EFER_LONG)
			fail("EFER 0x%lx: long mode is not active", es->efer);
		if (load & (LB_KERNEL_ALIGNMENT - 1))
			fail("loaded at 0x%lx, not a multiple of kernel_alignment 0x%x",
			     load, LB_KERNEL_ALIGNMENT);
	} else {
		if ((es->cr0 & (X86_CR0_PE | X86_CR0_PG)) != X86_CR0_PE)
			fail("CR0 0x%lx: not protected mode with paging off",
			     es->cr0);
		if (bp32(HDR_CODE32_START) != load)
			fail("entered at 0x%lx, code32_start is 0x%x", load,
			     bp32(HDR_CODE32_START));
	}
	if (es->rflags & X86_EFLAGS_IF)
		fail("interrupts are on (RFLAGS 0x%lx)", es->rflags);
	if (es->cs != BOOT_CS)
		fail("CS is 0x%x, not __BOOT_CS 0x%x", es->cs, BOOT_CS);
	if (es->ds != BOOT_DS || es->es != BOOT_DS || es->ss != BOOT_DS)
		fail("DS/ES/SS are 0x%x/0x%x/0x%x, not __BOOT_DS 0x%x", es->ds,
		     es->es, es->ss, BOOT_DS);
	check_desc(BOOT_CS, true, is64);
	check_desc(BOOT_DS, false, is64);
	if (bp32(HDR_HEADER) != HDRS_MAGIC)
		fail("%s 0x%lx is not boot_params: no \"HdrS\" at +0x202",
		     is64 ? "rsi" : "esi", zp_addr);
	if (is64) {
		check_ident("the kernel, init_size from its load address",
			    load, init_size());
		check_ident("boot_params", zp_addr, BP_SIZE);
		if (cmdline_addr && cmdline_addr < FOUR_GIB)
			check_ident("the command line", cmdline_addr,
				    cmdline_len + 1);
	}
	if (overlap(zp_addr, BP_SIZE, load, init_size()))
		fail("boot_params at 0x%lx lies in the kernel's [0x%lx, +init_size 0x%lx)",
		     zp_addr, load, init_size());
	/* The image moved itself home (head.S) over whatever was there. */
	if (load != LB_LOAD_ADDR) {
		u64 home = LB_LOAD_ADDR, len = (u64)(_end - _text);

		if (overlap(zp_addr, BP_SIZE, home, len))
			fail("the guest moved itself to 0x%lx over boot_params",
			     home);
		if (overlap(cmdline_addr, cmdline_len + 1, home, len))
			fail("the guest moved itself to 0x%lx over the command line",
			     home);
		if (overlap(initrd_addr(), initrd_size(), home, len))
			fail("the guest moved itself to 0x%lx over the initrd",
			     home);
	}
}

/* ---- boot_params ---- */

static void check_setup_header(void)
{
	if (bp16(HDR_BOOT_FLAG) != BOOT_FLAG_MAGIC)
		fail("boot_flag 0x%x, not 0xaa55", bp16(HDR_BOOT_FLAG));
	if (bp32(HDR_HEADER) != HDRS_MAGIC)
		fail("header 0x%x, not \"HdrS\" 0x%x", bp32(HDR_HEADER),
		     HDRS_MAGIC);
	if (!bp8(HDR_TYPE_OF_LOADER))
		fail("type_of_loader is 0 (0xff: a loader with no assigned id)");
	if (!(bp8(HDR_LOADFLAGS) & LOADED_HIGH))
		fail("loadflags 0x%x lacks LOADED_HIGH", bp8(HDR_LOADFLAGS));
	if (bp32(HDR_HARDWARE_SUBARCH))
		fail("hardware_subarch %u, not 0 (X86_SUBARCH_PC)",
		     bp32(HDR_HARDWARE_SUBARCH));
	if (bp64(HDR_SUBARCH_DATA))
		fail("hardware_subarch_data 0x%lx, not 0", bp64(HDR_SUBARCH_DATA));

	/* The loader copied the bzImage's header: the read-only fields hold. */
	if (!bp8(HDR_SETUP_SECTS))
		return;
	if (bp16(HDR_VERSION) != LB_PROTOCOL)
		fail("version 0x%x, the image's is 0x%x", bp16(HDR_VERSION),
		     LB_PROTOCOL);
	if (!bp32(HDR_KERNEL_INFO_OFFSET))
		fail("kernel_info_offset is 0: the setup header was not copied "
		     "to its end (0x202 + the jump's byte = 0x%x)", HDR_END);
	if (bp16(HDR_XLOADFLAGS) != XLF_KERNEL_64)
		fail("xloadflags 0x%x, the image's is 0x%x",
		     bp16(HDR_XLOADFLAGS), XLF_KERNEL_64);
	if (bp32(HDR_CMDLINE_SIZE) != LB_CMDLINE_SIZE)
		fail("cmdline_size %u, the image's is %u",
		     bp32(HDR_CMDLINE_SIZE), LB_CMDLINE_SIZE);
	if (bp32(HDR_INITRD_ADDR_MAX) != LB_INITRD_ADDR_MAX)
		fail("initrd_addr_max 0x%x, the image's is 0x%x",
		     bp32(HDR_INITRD_ADDR_MAX), LB_INITRD_ADDR_MAX);
	if (bp32(HDR_KERNEL_ALIGNMENT) != LB_KERNEL_ALIGNMENT)
		fail("kernel_alignment 0x%x, the image requires 0x%x (min_alignment %u)",
		     bp32(HDR_KERNEL_ALIGNMENT), LB_KERNEL_ALIGNMENT,
		     LB_MIN_ALIGNMENT);
	if (bp64(HDR_PREF_ADDRESS) != LB_LOAD_ADDR)
		fail("pref_address 0x%lx, the image's is 0x%x",
		     bp64(HDR_PREF_ADDRESS), LB_LOAD_ADDR);
}

static void check_boot_params(void)
{
	u64 rsdp = bp64(BP_ACPI_RSDP_ADDR), p;
	unsigned int n = 0;

	if (bp8(BP_SENTINEL))
		fail("sentinel (0x1ef) is 0x%x: more than the setup header was "
		     "copied into boot_params (Linux would then zero fields the "
		     "loader set)", bp8(BP_SENTINEL));
	if (bp32(BP_EFI_LOADER_SIG))
		fail("efi_loader_signature 0x%x: this is no EFI boot",
		     bp32(BP_EFI_LOADER_SIG));
	if (bp64(BP_TBOOT_ADDR))
		fail("tboot_addr 0x%lx, not 0", bp64(BP_TBOOT_ADDR));
	if (rsdp && (rsdp > FOUR_GIB - 8 ||
		     memcmp(phys_to_virt(rsdp), "RSD PTR ", 8)))
		fail("acpi_rsdp_addr 0x%lx does not point at \"RSD PTR \"", rsdp);

	/* setup_data: a NULL-terminated list of nodes in RAM. */
	for (p = bp64(HDR_SETUP_DATA); p; p = rd64(p)) {
		u32 type, len;

		if (n++ == MAX_SETUP_DATA) {
			fail("more than %u setup_data nodes", MAX_SETUP_DATA);
			break;
		}
		if (p > FOUR_GIB - 16) {
			fail("setup_data node at 0x%lx is above 4 GiB", p);
			break;
		}
		type = rd32(p + 8);
		len = rd32(p + 12);
		if (verbose)
			printf(PREFIX "boot-params: setup_data at 0x%lx: type %u, %u bytes\n",
			       p, type, len);
		if (!ram_covers(p, p + 16 + len))
			fail("setup_data node at 0x%lx (type %u, %u bytes) is not in e820 RAM",
			     p, type, len);
	}
}

static void check_cmdline(void)
{
	u64 load = load_addr();

	if (!cmdline_addr) {
		fail("cmd_line_ptr is 0");
		return;
	}
	if (cmdline_addr >= FOUR_GIB) {
		fail("the command line at 0x%lx is above 4 GiB (xloadflags has "
		     "no XLF_CAN_BE_LOADED_ABOVE_4G)", cmdline_addr);
		return;
	}
	if (!cmdline_nul)
		fail("no NUL within cmdline_size (%u) + 1 bytes at 0x%lx",
		     LB_CMDLINE_SIZE, cmdline_addr);
	if (overlap(cmdline_addr, cmdline_len + 1, load, init_size()))
		fail("the command line at 0x%lx overlaps the kernel [0x%lx, +0x%lx)",
		     cmdline_addr, load, init_size());
	if (overlap(cmdline_addr, cmdline_len + 1, zp_addr, BP_SIZE))
		fail("the command line at 0x%lx overlaps boot_params at 0x%lx",
		     cmdline_addr, zp_addr);
}

static void check_e820(void)
{
	u64 ram_high = 0, last_end = 0;
	unsigned int i;

	if (!bp8(BP_E820_ENTRIES))
		fail("no entries (e820_entries is 0)");
	if (bp8(BP_E820_ENTRIES) > BP_E820_MAX)
		fail("e820_entries %u, more than %u", bp8(BP_E820_ENTRIES),
		     BP_E820_MAX);
	for (i = 0; i < ne820; i++) {
		const struct e820 *e = &e820[i];

		if (!e->size || e820_end(e) < e->addr)
			fail("entry %u (0x%lx, size 0x%lx) is empty or wraps", i,
			     e->addr, e->size);
		if (!e->type)
			fail("entry %u at 0x%lx has type 0", i, e->addr);
		if (i && e->addr < e820[i - 1].addr)
			fail("not sorted: entry %u at 0x%lx follows 0x%lx", i,
			     e->addr, e820[i - 1].addr);
		else if (i && e->addr < last_end)
			fail("entries %u and %u overlap at 0x%lx", i - 1, i,
			     e->addr);
		last_end = e820_end(e);
		if (e->type == E820_RAM && e820_end(e) > HIGH_START)
			ram_high += e820_end(e) - (e->addr > HIGH_START ?
						    e->addr : HIGH_START);
	}
	if (!ram_covers(0, BASE_RAM_END))
		fail("[0, 0x%x) is not all RAM", BASE_RAM_END);
	if (ram_overlap(ISA_HOLE, HIGH_START - ISA_HOLE))
		fail("RAM in the ISA hole [0x%x, 0x%x)", ISA_HOLE, HIGH_START);
	if (have_mem && ram_high != opt_mem - HIGH_START)
		fail("RAM above 1 MiB is 0x%lx bytes; linuxboot.mem=0x%lx "
		     "leaves 0x%lx", ram_high, opt_mem, opt_mem - HIGH_START);
	if (ram_overlap(IOAPIC_ADDR, APIC_WINDOW))
		fail("RAM over the IOAPIC at 0x%lx", IOAPIC_ADDR);
	if (ram_overlap(LAPIC_ADDR, APIC_WINDOW))
		fail("RAM over the LAPIC at 0x%lx", LAPIC_ADDR);
	for (i = 0; i < nvdev; i++)
		if (ram_overlap(vdevs[i].base, vdevs[i].size))
			fail("RAM over virtio-mmio [0x%lx, +0x%lx)",
			     vdevs[i].base, vdevs[i].size);
	if (!ram_covers(LB_LOAD_ADDR, (u64)_end))
		fail("the kernel [0x%x, 0x%lx) is not all RAM", LB_LOAD_ADDR,
		     (u64)_end);
	if (load_addr() != LB_LOAD_ADDR && entered_64() &&
	    !ram_covers(load_addr(), load_addr() + init_size()))
		fail("the kernel as loaded [0x%lx, +0x%lx) is not all RAM",
		     load_addr(), init_size());
	if (why_len || verbose)
		e820_print();
}

static void check_virtio(void)
{
	unsigned int i, j;

	if (vdev_bad[0])
		fail("cannot parse '%s' (<size>@<base>:<irq>[:<id>])", vdev_bad);
	if (have_virtio && nvdev_words != opt_virtio)
		fail("%u " VIRTIO_KEY " words, linuxboot.expect-virtio=%lu",
		     nvdev_words, opt_virtio);
	if (nvdev_words > MAX_VIRTIO)
		fail("%u devices, this guest checks at most %u", nvdev_words,
		     MAX_VIRTIO);
	for (i = 0; i < nvdev; i++) {
		const struct vdev *d = &vdevs[i];

		if (verbose)
			printf(PREFIX "virtio-mmio: [0x%lx, +0x%lx) irq %lu\n",
			       d->base, d->size, d->irq);
		if (!d->size || d->base + d->size < d->base ||
		    d->base + d->size > FOUR_GIB)
			fail("device %u [0x%lx, +0x%lx) is empty or not below 4 GiB",
			     i, d->base, d->size);
		if (!d->irq || d->irq > 23)
			fail("device %u at 0x%lx: irq %lu is not an IOAPIC pin 1..23",
			     i, d->base, d->irq);
		if (overlap(d->base, d->size, IOAPIC_ADDR, APIC_WINDOW) ||
		    overlap(d->base, d->size, LAPIC_ADDR, APIC_WINDOW))
			fail("device %u at 0x%lx overlaps the IOAPIC or the LAPIC",
			     i, d->base);
		for (j = 0; j < i; j++)
			if (overlap(d->base, d->size, vdevs[j].base, vdevs[j].size))
				fail("devices %u and %u overlap at 0x%lx", j, i,
				     d->base);
	}
}

/* ---- initrd ---- */

/* CRC-32 (IEEE 802.3, reflected 0xedb88320): zlib's crc32(), gzip's. */
#define CRC1(c)		(((c) >> 1) ^ (((c) & 1) ? 0xedb88320u : 0))
#define CRC8(c)		CRC1(CRC1(CRC1(CRC1(CRC1(CRC1(CRC1(CRC1((u32)(c)))))))))
#define CRC_4(n)	CRC8(n), CRC8(n + 1), CRC8(n + 2), CRC8(n + 3)
#define CRC_16(n)	CRC_4(n), CRC_4(n + 4), CRC_4(n + 8), CRC_4(n + 12)
#define CRC_64(n)	CRC_16(n), CRC_16(n + 16), CRC_16(n + 32), CRC_16(n + 48)

static const u32 crc_table[256] = {
	CRC_64(0), CRC_64(64), CRC_64(128), CRC_64(192)
};

static u32 crc32(const u8 *p, u64 n)
{
	u32 crc = ~0u;

	while (n--)
		crc = (crc >> 8) ^ crc_table[(crc ^ *p++) & 0xff];
	return ~crc;
}

static void check_initrd(void)
{
	u64 addr = initrd_addr(), size = initrd_size(), load = load_addr();
	u32 sum;

	if (verbose && (addr || size))
		printf(PREFIX "initrd: [0x%lx, +0x%lx)\n", addr, size);
	if (!have_initrd_size || !opt_initrd_size) {
		if (addr || size)
			fail("an initrd at 0x%lx (%lu bytes), but the command line "
			     "has no linuxboot.initrd-size", addr, size);
		return;
	}
	if (size != opt_initrd_size)
		fail("ramdisk_size %lu, linuxboot.initrd-size=%lu", size,
		     opt_initrd_size);
	if (!addr) {
		fail("ramdisk_image is 0");
		return;
	}
	if (addr & 4095)
		fail("ramdisk_image 0x%lx is not page-aligned", addr);
	if (addr + size - 1 > LB_INITRD_ADDR_MAX || addr + size < addr) {
		fail("the initrd [0x%lx, +0x%lx) ends above initrd_addr_max 0x%x",
		     addr, size, LB_INITRD_ADDR_MAX);
		return;
	}
	if (!ram_covers(addr, addr + size))
		fail("the initrd [0x%lx, +0x%lx) is not all e820 RAM", addr, size);
	if (overlap(addr, size, load, init_size()))
		fail("the initrd overlaps the kernel [0x%lx, +0x%lx)", load,
		     init_size());
	if (overlap(addr, size, zp_addr, BP_SIZE))
		fail("the initrd overlaps boot_params at 0x%lx", zp_addr);
	if (overlap(addr, size, cmdline_addr, cmdline_len + 1))
		fail("the initrd overlaps the command line at 0x%lx",
		     cmdline_addr);
	if (have_initrd_sum && size == opt_initrd_size) {
		sum = crc32(phys_to_virt(addr), size);
		if (sum != opt_initrd_sum)
			fail("CRC-32 of the initrd bytes is %08x, linuxboot.initrd-sum=%08lx",
			     sum, opt_initrd_sum);
	}
}

/* ---- CPUs ---- */

static struct mp_info mp;
static bool mp_ok;

static void check_mptable(void)
{
	u32 bsp = lapic_id(), bsp_entry = 0;
	unsigned int i, j, n, nbsp = 0;
	const char *err = mp_parse(&mp);

	if (err) {
		fail("%s", err);
		return;
	}
	mp_ok = true;
	n = mp.ncpus < MP_MAX_CPUS ? mp.ncpus : MP_MAX_CPUS;
	if (!mp.ncpus)
		fail("no enabled processor entry");
	if (have_cpus && mp.ncpus != opt_cpus)
		fail("%u enabled processor entries, linuxboot.cpus=%lu",
		     mp.ncpus, opt_cpus);
	for (i = 0; i < n; i++) {
		if (mp.cpus[i].flags & MP_CPU_BSP) {
			nbsp++;
			bsp_entry = mp.cpus[i].apic_id;
		}
		for (j = 0; j < i; j++)
			if (mp.cpus[j].apic_id == mp.cpus[i].apic_id)
				fail("two processor entries have APIC id %u",
				     mp.cpus[i].apic_id);
	}
	if (nbsp != 1)
		fail("%u processor entries have the BSP flag, not 1", nbsp);
	else if (bsp_entry != bsp)
		fail("the BSP entry has APIC id %u, the boot CPU's is %u",
		     bsp_entry, bsp);
	if (mp.lapic_addr != LAPIC_ADDR)
		fail("LAPIC address 0x%x, not 0x%lx", mp.lapic_addr, LAPIC_ADDR);
	if (!mp.nioapics)
		fail("no enabled IOAPIC entry");
	else if (mp.ioapic_addr != IOAPIC_ADDR)
		fail("IOAPIC at 0x%x, not 0x%lx", mp.ioapic_addr, IOAPIC_ADDR);
}

/* ---- ACPI ---- */

#define ACPI_MAX_TABLE		0x10000

static u8 acpi_sum(u64 paddr, u32 len)
{
	const u8 *b = phys_to_virt(paddr);
	u8 sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

/* [paddr, paddr + len) lies in one e820 entry that is not RAM. */
static bool e820_reserved(u64 paddr, u64 len)
{
	for (unsigned int i = 0; i < ne820; i++)
		if (paddr >= e820[i].addr && paddr + len <= e820_end(&e820[i]))
			return e820[i].type != E820_RAM;
	return false;
}

/* A table at @paddr: signature, sane length, checksum, kept from the kernel. */
static u32 acpi_table(u64 paddr, const char *sig)
{
	u32 len;

	if (!paddr || paddr > FOUR_GIB - 36) {
		fail("%s at 0x%lx", sig, paddr);
		return 0;
	}
	if (memcmp(phys_to_virt(paddr), sig, 4)) {
		fail("table at 0x%lx is not %s", paddr, sig);
		return 0;
	}
	len = rd32(paddr + 4);
	if (len < 36 || len > ACPI_MAX_TABLE) {
		fail("%s at 0x%lx: length %u", sig, paddr, len);
		return 0;
	}
	if (acpi_sum(paddr, len))
		fail("%s at 0x%lx: bad checksum", sig, paddr);
	if (!e820_reserved(paddr, len))
		fail("%s at 0x%lx (+%u) is not in e820 reserved memory: the kernel "
		     "may overwrite it", sig, paddr, len);
	return len;
}

static bool bytes_at(u64 paddr, u32 len, const u8 *pat, u32 n)
{
	const u8 *b = phys_to_virt(paddr);

	for (u32 i = 0; i + n <= len; i++)
		if (!memcmp(b + i, pat, n))
			return true;
	return false;
}

static unsigned int count_at(u64 paddr, u32 len, const char *s)
{
	const u8 *b = phys_to_virt(paddr);
	u32 n = strlen(s);
	unsigned int c = 0;

	for (u32 i = 0; i + n <= len; i++)
		c += !memcmp(b + i, s, n);
	return c;
}

/* The DSDT names every virtio-mmio device of the command line, same window and GSI. */
static void check_dsdt(u64 dsdt)
{
	u32 len = acpi_table(dsdt, "DSDT");
	unsigned int n;

	if (!len)
		return;
	n = count_at(dsdt, len, "LNRO0005");
	if (n != nvdev)
		fail("DSDT has %u LNRO0005 (virtio-mmio) devices, the command line %u", n,
		     nvdev);
	for (unsigned int i = 0; i < nvdev; i++) {
		const struct vdev *d = &vdevs[i];
		/* Memory32Fixed(ReadWrite, base, size); Interrupt(consumer, edge, high) {irq} */
		u8 mem[12] = { 0x86, 9, 0, 1 }, irq[9] = { 0x89, 6, 0, 0x03, 1 };

		memcpy(mem + 4, &d->base, 4);
		memcpy(mem + 8, &d->size, 4);
		memcpy(irq + 5, &d->irq, 4);
		if (!bytes_at(dsdt, len, mem, sizeof(mem)))
			fail("no DSDT window [0x%lx, +0x%lx)", d->base, d->size);
		if (!bytes_at(dsdt, len, irq, sizeof(irq)))
			fail("no DSDT edge interrupt %lu for the device at 0x%lx", d->irq,
			     d->base);
	}
	if (!count_at(dsdt, len, "_S5_"))
		fail("DSDT declares no \\_S5 (power off)");
}

/* One enabled local APIC per CPU (the MP table's ids), the IOAPIC, LINT1 NMI. */
static void check_madt(u64 madt)
{
	u32 len = acpi_table(madt, "APIC"), off;
	unsigned int ncpu = 0, nioapic = 0;

	if (!len)
		return;
	if (rd32(madt + 36) != LAPIC_ADDR)
		fail("MADT LAPIC address 0x%x", rd32(madt + 36));
	for (off = 44; off + 2 <= len; off += *(u8 *)phys_to_virt(madt + off + 1)) {
		const u8 *e = phys_to_virt(madt + off);

		if (e[1] < 2 || off + e[1] > len) {
			fail("MADT entry at +%u has length %u", off, e[1]);
			return;
		}
		if (e[0] == 0 && (rd32(madt + off + 4) & 1)) {
			if (mp_ok && (ncpu >= mp.ncpus || ncpu >= MP_MAX_CPUS ||
				      mp.cpus[ncpu].apic_id != e[3]))
				fail("MADT local APIC %u has id %u, not the MP table's", ncpu,
				     e[3]);
			ncpu++;
		} else if (e[0] == 1) {
			if (rd32(madt + off + 4) != IOAPIC_ADDR)
				fail("MADT IOAPIC at 0x%x", rd32(madt + off + 4));
			nioapic++;
		}
	}
	if (have_cpus && ncpu != opt_cpus)
		fail("MADT: %u enabled local APICs, linuxboot.cpus=%lu", ncpu, opt_cpus);
	if (nioapic != 1)
		fail("MADT: %u IOAPICs, not 1", nioapic);
}

static void check_acpi(void)
{
	u64 rsdp = bp64(BP_ACPI_RSDP_ADDR), xsdt, fadt = 0, madt = 0;
	u32 len;

	if (!opt_acpi) {
		if (rsdp)
			fail("acpi_rsdp_addr is 0x%lx with linuxboot.acpi=0", rsdp);
		return;
	}
	if (!rsdp) {
		fail("acpi_rsdp_addr is 0: no ACPI tables");
		return;
	}
	if (rsdp > FOUR_GIB - 36 || memcmp(phys_to_virt(rsdp), "RSD PTR ", 8))
		return; /* boot-params reported it */
	if (acpi_sum(rsdp, 20) || acpi_sum(rsdp, 36))
		fail("RSDP checksums");
	if (*(u8 *)phys_to_virt(rsdp + 15) < 2)
		fail("RSDP revision %u: no XSDT", *(u8 *)phys_to_virt(rsdp + 15));
	if (!e820_reserved(rsdp, 36))
		fail("RSDP at 0x%lx is not in e820 reserved memory", rsdp);
	xsdt = rd64(rsdp + 24);
	len = acpi_table(xsdt, "XSDT");
	for (u32 off = 36; off + 8 <= len; off += 8) {
		u64 t = rd64(xsdt + off);

		if (t > FOUR_GIB - 36)
			fail("XSDT entry 0x%lx", t);
		else if (!memcmp(phys_to_virt(t), "FACP", 4))
			fadt = t;
		else if (!memcmp(phys_to_virt(t), "APIC", 4))
			madt = t;
	}
	if (!fadt || !madt) {
		fail("XSDT lists %s%s", fadt ? "" : "no FADT ", madt ? "" : "no MADT");
		return;
	}
	len = acpi_table(fadt, "FACP");
	if (len < 276) {
		fail("FADT is %u bytes, ACPI 6 has 276", len);
		return;
	}
	if (!(rd32(fadt + 112) & (1u << 20)))
		fail("FADT: not HW_REDUCED_ACPI, but evvm has no SCI or PM blocks");
	check_dsdt(rd64(fadt + 140));
	check_madt(madt);
}

/* Start every AP as Linux does (INIT, SIPI, SIPI; guest/smp.c). */
static void check_smp(void)
{
	unsigned int i, n = 1, want;
	u32 bsp = lapic_id();

	if (!mp_ok) {
		fail("no usable MP table");
		return;
	}
	want = have_cpus ? opt_cpus : mp.ncpus;
	if (mp.ncpus > MAX_CPUS) {
		fail("%u cpus, this guest starts at most %u", mp.ncpus, MAX_CPUS);
		return;
	}
	if (!ram_covers(TRAMPOLINE_ADDR, TRAMPOLINE_ADDR + 4096)) {
		fail("the AP trampoline page 0x%x is not e820 RAM",
		     TRAMPOLINE_ADDR);
		return;
	}
	lapic_enable();
	smp_prepare();
	for (i = 0; i < mp.ncpus; i++) {
		const struct mp_cpu *c = &mp.cpus[i];

		if (c->apic_id == bsp)
			continue;
		if (n >= MAX_CPUS) {
			fail("the boot CPU (APIC id %u) is not in the MP table", bsp);
			return;
		}
		if (smp_boot_cpu(n, c->apic_id)) {
			fail("cpu %u (APIC id %u) did not check in", n,
			     c->apic_id);
			return;
		}
		if (smp_apic_ids[n] != c->apic_id)
			fail("cpu %u runs with APIC id %u, the MP table says %u",
			     n, smp_apic_ids[n], c->apic_id);
		n++;
	}
	if (smp_cpus_checked_in + 1 != want)
		fail("%u cpus up, expected %u", smp_cpus_checked_in + 1, want);
	printf(PREFIX "smp: %u cpus up\n", smp_cpus_checked_in + 1);
}

/* ---- main ---- */

void linuxboot_main(void)
{
	u64 load;

	idt_load();
	zp_addr = entry_state.zero_page;
	load = load_addr();
	if (!zp_addr || zp_addr > FOUR_GIB - BP_SIZE) {
		printf(PREFIX "booted via the %lu-bit entry at 0x%lx, but "
		       "boot_params at 0x%lx is %s\n", entry_state.path,
		       entry_state.entry, zp_addr,
		       zp_addr ? "above 4 GiB (xloadflags has no "
				 "XLF_CAN_BE_LOADED_ABOVE_4G)" : "NULL");
		guest_exit(EXIT_ERROR);
	}
	memcpy(zp, phys_to_virt(zp_addr), BP_SIZE);
	cmdline_copy();

	printf(PREFIX "booted via the %lu-bit entry at 0x%lx", entry_state.path,
	       entry_state.entry);
	if (load != LB_LOAD_ADDR)
		printf(" (loaded at 0x%lx, moved to 0x%x)", load, LB_LOAD_ADDR);
	printf(", boot_params at 0x%lx, cmdline \"%s\"\n", zp_addr, cmdline);

	parse_options();
	parse_virtio();
	e820_read();

	check_entry();
	report("entry");
	check_setup_header();
	report("setup-header");
	check_boot_params();
	report("boot-params");
	check_cmdline();
	report("cmdline");
	check_e820();
	report("e820");
	check_virtio();
	report("virtio-mmio");
	check_initrd();
	report("initrd");
	check_mptable();
	report("mptable");
	check_acpi();
	report("acpi");
	check_smp();
	report("smp");

	printf(PREFIX "%u passed, %u failed\n", passed, failed);
	guest_exit(failed ? EXIT_FAIL : EXIT_PASS);
}
