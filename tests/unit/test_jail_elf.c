// SPDX-License-Identifier: MIT
/*
 * jail_elf_deps(): the loader and library closure of a real dynamic evvm,
 * none for a static ELF, and hostile ELF files (offsets out of the file,
 * unterminated strings, a missing library) refused with an error.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "jail.h"

#define IMG_SIZE 4096
#define STR_OFF	 0x400
#define DYN_OFF	 0x800
#define INTERP	 "/lib64/ld-linux-x86-64.so.2"

struct img {
	uint8_t b[IMG_SIZE];
	Elf64_Phdr *load, *interp, *dyn;
	Elf64_Dyn *d;
	size_t strsz;
};

/* An ELF64 x86-64 file: PT_LOAD of the whole file at vaddr 0, PT_INTERP, PT_DYNAMIC. */
static void img_init(struct img *m, const char *const needed[], unsigned int n)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)m->b;
	Elf64_Phdr *ph = (Elf64_Phdr *)(m->b + sizeof(*eh));
	unsigned int k = 0;
	size_t s = 1;

	memset(m, 0, sizeof(*m));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_machine = EM_X86_64;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 3;
	m->load = &ph[0];
	m->interp = &ph[1];
	m->dyn = &ph[2];
	*m->load = (Elf64_Phdr){ .p_type = PT_LOAD, .p_filesz = IMG_SIZE, .p_memsz = IMG_SIZE };
	strcpy((char *)m->b + 0x200, INTERP);
	*m->interp =
		(Elf64_Phdr){ .p_type = PT_INTERP, .p_offset = 0x200, .p_filesz = sizeof(INTERP) };
	m->d = (Elf64_Dyn *)(m->b + DYN_OFF);
	for (unsigned int i = 0; i < n; i++) {
		strcpy((char *)m->b + STR_OFF + s, needed[i]);
		m->d[k++] = (Elf64_Dyn){ .d_tag = DT_NEEDED, .d_un.d_val = s };
		s += strlen(needed[i]) + 1;
	}
	m->strsz = s;
	m->d[k++] = (Elf64_Dyn){ .d_tag = DT_STRTAB, .d_un.d_ptr = STR_OFF };
	m->d[k++] = (Elf64_Dyn){ .d_tag = DT_STRSZ, .d_un.d_val = s };
	m->d[k++] = (Elf64_Dyn){ .d_tag = DT_NULL };
	*m->dyn = (Elf64_Phdr){ .p_type = PT_DYNAMIC,
				.p_offset = DYN_OFF,
				.p_filesz = k * sizeof(Elf64_Dyn) };
}

static int img_deps(const struct img *m, size_t size, struct jail_deps *deps)
{
	char path[] = "/tmp/evvm-jail-elf.XXXXXX";
	int fd = mkstemp(path), err;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, m->b, size), (ssize_t)size);
	close(fd);
	err = jail_elf_deps(path, deps);
	unlink(path);
	return err;
}

static bool has(const struct jail_deps *d, const char *suffix)
{
	for (unsigned int i = 0; i < d->n; i++) {
		size_t a = strlen(d->v[i].jail_path), b = strlen(suffix);

		if (a >= b && !strcmp(d->v[i].jail_path + a - b, suffix))
			return true;
	}
	return false;
}

static void test_evvm_closure(void **state)
{
	const char *evvm = getenv("EVVM") ? getenv("EVVM") : "build/evvm";
	struct jail_deps d;

	(void)state;
	assert_int_equal(jail_elf_deps(evvm, &d), 0);
	assert_string_equal(d.v[0].jail_path, INTERP);
	assert_true(has(&d, "/libc.so.6"));
	assert_true(has(&d, "/liburing.so.2"));
	assert_true(has(&d, "/libjansson.so.4"));
	/* From evvm's dlopen note (cli/libevent.c), with its own closure. */
	assert_true(has(&d, "/libevent_extra-2.1.so.7"));
	assert_true(has(&d, "/libevent_core-2.1.so.7"));
	for (unsigned int i = 0; i < d.n; i++)
		assert_int_equal(access(d.v[i].src, R_OK), 0);
	jail_deps_free(&d);
}

static void test_crafted_needs_libc(void **state)
{
	const char *needed[] = { "libc.so.6" };
	struct jail_deps d;
	struct img m;

	(void)state;
	img_init(&m, needed, 1);
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), 0);
	assert_string_equal(d.v[0].jail_path, INTERP);
	assert_true(has(&d, "/libc.so.6"));
	jail_deps_free(&d);
}

static void test_static_has_none(void **state)
{
	struct jail_deps d;
	struct img m;

	(void)state;
	img_init(&m, NULL, 0);
	m.interp->p_type = PT_NULL;
	m.dyn->p_type = PT_NULL;
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), 0);
	assert_int_equal(d.n, 0);
	jail_deps_free(&d);
}

static void test_hostile_files_refused(void **state)
{
	const char *needed[] = { "libc.so.6" };
	struct jail_deps d;
	struct img m;

	(void)state;
	img_init(&m, needed, 1);
	m.interp->p_filesz = sizeof(INTERP) - 1; /* no NUL */
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), -ENOEXEC);
	img_init(&m, needed, 1);
	m.interp->p_offset = IMG_SIZE - 4;
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), -ENOEXEC);
	img_init(&m, needed, 1);
	((Elf64_Ehdr *)m.b)->e_phoff = IMG_SIZE - 8;
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), -ENOEXEC);
	img_init(&m, needed, 1);
	m.d[0].d_un.d_val = 1 << 20; /* DT_NEEDED past DT_STRSZ */
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), -ENOEXEC);
	img_init(&m, needed, 1);
	m.d[2].d_un.d_val = 4; /* DT_STRSZ cuts "libc.so.6" before its NUL */
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), -ENOEXEC);
	img_init(&m, needed, 1);
	m.d[1].d_un.d_ptr = 1ull << 40; /* DT_STRTAB in no PT_LOAD */
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), -ENOEXEC);
	img_init(&m, needed, 1);
	m.dyn->p_filesz = 1 << 20;
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), -ENOEXEC);
	img_init(&m, needed, 1);
	*m.dyn = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x300, .p_filesz = 16 };
	((Elf64_Nhdr *)(m.b + 0x300))->n_namesz = 1 << 20; /* the note runs past its segment */
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), -ENOEXEC);
	img_init(&m, needed, 1);
	assert_int_equal(img_deps(&m, 32, &d), -ENOEXEC); /* truncated */
	((Elf64_Ehdr *)m.b)->e_machine = EM_AARCH64;
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), -ENOEXEC);
}

static void test_missing_library_refused(void **state)
{
	const char *needed[] = { "libc.so.6", "libevvm-no-such-lib.so.9" };
	struct jail_deps d;
	struct img m;

	(void)state;
	img_init(&m, needed, 2);
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), -ENOENT);
	img_init(&m, needed, 1);
	strcpy((char *)m.b + 0x200, "/nonexistent/ld.so");
	assert_int_equal(img_deps(&m, IMG_SIZE, &d), -ENOENT);
}

static void test_id_rule(void **state)
{
	char id65[66];

	(void)state;
	memset(id65, 'a', 65);
	id65[65] = '\0';
	assert_true(jail_id_valid("551e7604-e35c-42b3-b825-416853441234"));
	assert_true(jail_id_valid(id65 + 1));
	assert_false(jail_id_valid(id65));
	assert_false(jail_id_valid(""));
	assert_false(jail_id_valid("a_b"));
	assert_false(jail_id_valid("a/b"));
	assert_false(jail_id_valid("a.b"));
	assert_false(jail_id_valid(".."));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evvm_closure),
		cmocka_unit_test(test_crafted_needs_libc),
		cmocka_unit_test(test_static_has_none),
		cmocka_unit_test(test_hostile_files_refused),
		cmocka_unit_test(test_missing_library_refused),
		cmocka_unit_test(test_id_rule),
	};

	return cmocka_run_group_tests_name("jailer ELF dependencies", tests, NULL, NULL);
}
