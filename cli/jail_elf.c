// SPDX-License-Identifier: MIT
/*
 * The shared libraries a dynamically linked exec file needs inside the
 * jail. Firecracker's jailer wants a static binary; evvm links to Debian's
 * shared libraries, so the jail gets the loader (PT_INTERP) and the
 * DT_NEEDED closure, each at a path the loader searches without
 * /etc/ld.so.cache, and the libraries it declares it may dlopen() (ELF
 * notes as systemd's dlopen metadata: evvm's for libevent, in
 * cli/libevent.c). Every offset read from a file is bounds-checked.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "jail.h"

#define ELF_MAX_SIZE   (1ull << 30)
#define ELF_NEEDED_MAX 64
#define ELF_DLOPEN_MAX 8
#define NT_FDO_DLOPEN  0x407c0c0a /* systemd's ELF dlopen metadata */

/* glibc's system directories on x86-64 (Debian multiarch first). */
static const char *const sys_dirs[] = {
	"/lib/x86_64-linux-gnu",
	"/usr/lib/x86_64-linux-gnu",
	"/lib64",
	"/usr/lib64",
	"/lib",
	"/usr/lib",
};

struct elf_dyn_info {
	char interp[PATH_MAX];
	const char *needed[ELF_NEEDED_MAX];
	unsigned int nr_needed;
	const char *runpath;
	char dlopen[ELF_DLOPEN_MAX][128]; /* sonames from dlopen notes */
	unsigned int nr_dlopen;
};

struct elf_map {
	const uint8_t *p;
	size_t size;
};

static bool range_ok(const struct elf_map *m, uint64_t off, uint64_t len)
{
	return off <= m->size && len <= m->size - off;
}

/* The file offset of virtual address @va, through the PT_LOAD headers. */
static int vaddr_to_off(const struct elf_map *m, const Elf64_Phdr *ph, unsigned int n, uint64_t va,
			uint64_t *off)
{
	for (unsigned int i = 0; i < n; i++) {
		if (ph[i].p_type != PT_LOAD || va < ph[i].p_vaddr ||
		    va - ph[i].p_vaddr >= ph[i].p_filesz)
			continue;
		*off = ph[i].p_offset + (va - ph[i].p_vaddr);
		return range_ok(m, *off, 1) ? 0 : -ENOEXEC;
	}
	return -ENOEXEC;
}

static const char *str_at(const struct elf_map *m, uint64_t strtab, uint64_t strsz, uint64_t i)
{
	if (i >= strsz || !range_ok(m, strtab, strsz))
		return NULL;
	if (!memchr(m->p + strtab + i, '\0', strsz - i))
		return NULL;
	return (const char *)m->p + strtab + i;
}

static int elf_parse_dynamic(const struct elf_map *m, const Elf64_Phdr *ph, unsigned int n,
			     const Elf64_Phdr *dynph, struct elf_dyn_info *info)
{
	const Elf64_Dyn *d;
	uint64_t strtab_va = 0, strsz = 0, strtab, runpath = UINT64_MAX, nd;
	uint64_t needed[ELF_NEEDED_MAX];
	unsigned int nr = 0;

	if (!range_ok(m, dynph->p_offset, dynph->p_filesz) || dynph->p_offset % 8)
		return -ENOEXEC;
	d = (const Elf64_Dyn *)(m->p + dynph->p_offset);
	nd = dynph->p_filesz / sizeof(*d);
	for (uint64_t i = 0; i < nd && d[i].d_tag != DT_NULL; i++) {
		if (d[i].d_tag == DT_STRTAB)
			strtab_va = d[i].d_un.d_ptr;
		else if (d[i].d_tag == DT_STRSZ)
			strsz = d[i].d_un.d_val;
		else if (d[i].d_tag == DT_RUNPATH ||
			 (d[i].d_tag == DT_RPATH && runpath == UINT64_MAX))
			runpath = d[i].d_un.d_val;
		else if (d[i].d_tag == DT_NEEDED) {
			if (nr == ELF_NEEDED_MAX)
				return -E2BIG;
			needed[nr++] = d[i].d_un.d_val;
		}
	}
	if (!nr)
		return 0;
	if (vaddr_to_off(m, ph, n, strtab_va, &strtab))
		return -ENOEXEC;
	for (unsigned int i = 0; i < nr; i++) {
		info->needed[i] = str_at(m, strtab, strsz, needed[i]);
		if (!info->needed[i] || !*info->needed[i])
			return -ENOEXEC;
	}
	info->nr_needed = nr;
	if (runpath != UINT64_MAX && !(info->runpath = str_at(m, strtab, strsz, runpath)))
		return -ENOEXEC;
	return 0;
}

/* The sonames of one dlopen note: [{"soname": ["libx.so.1", ...], ...}, ...]. */
static int note_sonames(const char *desc, size_t len, struct elf_dyn_info *info)
{
	json_t *root = json_loadb(desc, strnlen(desc, len), 0, NULL), *obj, *names, *name;
	size_t i, j;

	if (!json_is_array(root)) {
		json_decref(root);
		return -ENOEXEC;
	}
	json_array_foreach(root, i, obj)
	{
		names = json_object_get(obj, "soname");
		json_array_foreach(names, j, name)
		{
			const char *n = json_string_value(name);

			if (!n || !*n || strchr(n, '/') || strlen(n) >= sizeof(info->dlopen[0]) ||
			    info->nr_dlopen == ELF_DLOPEN_MAX)
				continue;
			strcpy(info->dlopen[info->nr_dlopen++], n);
		}
	}
	json_decref(root);
	return 0;
}

/* Walk one PT_NOTE segment for dlopen notes (owner "FDO"). */
static int elf_parse_notes(const struct elf_map *m, const Elf64_Phdr *ph, struct elf_dyn_info *info)
{
	uint64_t off = ph->p_offset, end;

	if (!range_ok(m, ph->p_offset, ph->p_filesz))
		return -ENOEXEC;
	end = ph->p_offset + ph->p_filesz;
	while (end - off >= sizeof(Elf64_Nhdr)) {
		const Elf64_Nhdr *n = (const Elf64_Nhdr *)(m->p + off);
		uint64_t name = off + sizeof(*n), desc = name + ((n->n_namesz + 3ull) & ~3ull);
		uint64_t next = desc + ((n->n_descsz + 3ull) & ~3ull);
		int err;

		if (next > end)
			return -ENOEXEC;
		if (n->n_type == NT_FDO_DLOPEN && n->n_namesz == 4 &&
		    !memcmp(m->p + name, "FDO", 4)) {
			err = note_sonames((const char *)m->p + desc, n->n_descsz, info);
			if (err)
				return err;
		}
		off = next;
	}
	return 0;
}

/* Read PT_INTERP and the dynamic section of a mapped ELF64 x86-64 file. */
static int elf_parse(const struct elf_map *m, struct elf_dyn_info *info)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m->p;
	const Elf64_Phdr *ph, *dyn = NULL;

	if (m->size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || eh->e_phentsize != sizeof(*ph) ||
	    !range_ok(m, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(*ph)) || eh->e_phoff % 8)
		return -ENOEXEC;
	ph = (const Elf64_Phdr *)(m->p + eh->e_phoff);
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = &ph[i];
		if (ph[i].p_type == PT_NOTE && elf_parse_notes(m, &ph[i], info))
			return -ENOEXEC;
		if (ph[i].p_type != PT_INTERP)
			continue;
		if (!range_ok(m, ph[i].p_offset, ph[i].p_filesz) || ph[i].p_filesz < 2 ||
		    ph[i].p_filesz > sizeof(info->interp) ||
		    m->p[ph[i].p_offset + ph[i].p_filesz - 1] != '\0' ||
		    m->p[ph[i].p_offset] != '/')
			return -ENOEXEC;
		memcpy(info->interp, m->p + ph[i].p_offset, ph[i].p_filesz);
	}
	return dyn ? elf_parse_dynamic(m, ph, eh->e_phnum, dyn, info) : 0;
}

static int elf_map_file(const char *path, struct elf_map *m)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *p;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr) ||
	    (uint64_t)st.st_size > ELF_MAX_SIZE) {
		close(fd);
		return -ENOEXEC;
	}
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	*m = (struct elf_map){ .p = p, .size = st.st_size };
	return 0;
}

static bool deps_have(const struct jail_deps *deps, const char *jail_path)
{
	for (unsigned int i = 0; i < deps->n; i++)
		if (!strcmp(deps->v[i].jail_path, jail_path))
			return true;
	return false;
}

static int deps_add(struct jail_deps *deps, const char *jail_path)
{
	struct jail_dep *d;

	if (deps->n == JAIL_DEPS_MAX)
		return -E2BIG;
	d = &deps->v[deps->n];
	if (strlen(jail_path) >= sizeof(d->jail_path))
		return -ENAMETOOLONG;
	if (!realpath(jail_path, d->src)) {
		fprintf(stderr, "evvm jailer: exec file's loader or library '%s': %s\n", jail_path,
			strerror(errno));
		return -errno;
	}
	strcpy(d->jail_path, jail_path);
	deps->n++;
	return 0;
}

/* Is @path a regular file that is an ELF64 x86-64 object (as the loader wants)? */
static bool lib_fits(const char *path)
{
	Elf64_Ehdr eh;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = pread(fd, &eh, sizeof(eh), 0) == sizeof(eh) && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
	     eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_machine == EM_X86_64;
	close(fd);
	return ok;
}

static int try_dir(const char *dir, size_t dlen, const char *name, char *out, size_t outsz)
{
	if (!dlen || dir[0] != '/' ||
	    (size_t)snprintf(out, outsz, "%.*s/%s", (int)dlen, dir, name) >= outsz)
		return -ENOENT;
	return lib_fits(out) ? 0 : -ENOENT;
}

/* Resolve DT_NEEDED @name as the loader would without ld.so.cache. */
static int lib_resolve(const char *name, const char *runpath, char *out, size_t outsz)
{
	if (strchr(name, '/'))
		return (size_t)snprintf(out, outsz, "%s", name) < outsz && lib_fits(out) ? 0
											 : -ENOENT;
	for (const char *p = runpath; p && *p;) {
		size_t len = strcspn(p, ":");

		if (!try_dir(p, len, name, out, outsz))
			return 0;
		p += len + (p[len] == ':');
	}
	for (size_t i = 0; i < sizeof(sys_dirs) / sizeof(sys_dirs[0]); i++)
		if (!try_dir(sys_dirs[i], strlen(sys_dirs[i]), name, out, outsz))
			return 0;
	return -ENOENT;
}

/* Add @path's interpreter and needed libraries (not yet in @deps). */
static int deps_scan(struct jail_deps *deps, const char *path)
{
	struct elf_dyn_info info = { 0 };
	struct elf_map m = { 0 };
	char lib[PATH_MAX];
	int err = elf_map_file(path, &m);

	if (err)
		return err;
	err = elf_parse(&m, &info);
	if (!err && info.interp[0] && !deps_have(deps, info.interp))
		err = deps_add(deps, info.interp);
	for (unsigned int i = 0; !err && i < info.nr_needed; i++) {
		err = lib_resolve(info.needed[i], info.runpath, lib, sizeof(lib));
		if (err)
			fprintf(stderr,
				"evvm jailer: exec file library '%s' (needed by %s): not found\n",
				info.needed[i], path);
		else if (!deps_have(deps, lib))
			err = deps_add(deps, lib);
	}
	/* What it may dlopen() comes too, when the host has it: evvm's API needs libevent. */
	for (unsigned int i = 0; !err && i < info.nr_dlopen; i++)
		if (!lib_resolve(info.dlopen[i], info.runpath, lib, sizeof(lib)) &&
		    !deps_have(deps, lib))
			err = deps_add(deps, lib);
	munmap((void *)m.p, m.size);
	return err;
}

int jail_elf_deps(const char *path, struct jail_deps *deps)
{
	int err;

	deps->n = 0;
	deps->v = calloc(JAIL_DEPS_MAX, sizeof(*deps->v));
	if (!deps->v)
		return -ENOMEM;
	err = deps_scan(deps, path);
	/* Libraries are appended as found: scanning in order reaches the closure. */
	for (unsigned int i = 0; !err && i < deps->n; i++)
		err = deps_scan(deps, deps->v[i].src);
	if (err) {
		fprintf(stderr, "evvm jailer: exec file '%s': its shared libraries: %s\n", path,
			strerror(-err));
		jail_deps_free(deps);
	}
	return err;
}

void jail_deps_free(struct jail_deps *deps)
{
	free(deps->v);
	deps->v = NULL;
	deps->n = 0;
}
