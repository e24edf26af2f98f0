/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_SNAPSHOT_FILE_H
#define EVVM_VMM_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The snapshot state file (docs/snapshot.md): a header (magic, format
 * version, evvm's version, flags, file size, section count), sections
 * (tag, index, length, data padded to 8 bytes) and a CRC-32 (zlib's) of
 * everything before it. Written to a temporary file in the same directory,
 * fsync'd and renamed into place, so a reader sees the whole file or none.
 * No KVM here: the vCPU and VM modules only add and find sections.
 */

#define SNAPFILE_MAGIC	 "EVVMSNAP"
/*
 * 2: virtio devices; 3: virtio-net, rate limiters' bucket levels (a
 * disk's state grew). A reader takes every version from
 * SNAPFILE_VERSION_MIN on and reads each by its own layout.
 */
#define SNAPFILE_VERSION     3
#define SNAPFILE_VERSION_MIN 2
#define SNAPFILE_MAX	 (64u << 20) /* a state file is small: guest RAM is its own file */

/* Section tags; the index tells apart sections of one tag (vCPU number, slot). */
enum snapfile_tag {
	SNAP_VM_CONFIG = 1, /* struct snap_vm_config */
	SNAP_VCPU_REGS,
	SNAP_VCPU_SREGS,
	SNAP_VCPU_XSAVE,
	SNAP_VCPU_XCRS,
	SNAP_VCPU_MSRS,
	SNAP_VCPU_LAPIC,
	SNAP_VCPU_MP_STATE,
	SNAP_VCPU_EVENTS,
	SNAP_VCPU_DEBUGREGS,
	SNAP_VM_IRQCHIP, /* index: KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE, _IOAPIC */
	SNAP_VM_PIT2,
	SNAP_VM_CLOCK,
	SNAP_DEV_UART,
	SNAP_DEV_I8042,
	SNAP_VM_VIRTIO,	  /* struct snap_virtio: the transport, how many devices */
	SNAP_VIRTIO_DEV,  /* index: slot; struct snap_virtio_dev, then the device's ops->save() */
	SNAP_VIRTIO_MMIO, /* index: slot; struct virtio_state (vmm/virtio_state.h) */
	SNAP_VIRTIO_PCI,  /* index: slot; struct virtio_pci_state (vmm/virtio_pci.h) */
};

struct snapfile_section {
	uint32_t tag, index;
	uint64_t len;
	const void *data; /* inside the loaded file's buffer */
};

/* A state file being built, or one loaded and checked. */
struct snapfile {
	char *buf; /* the whole file */
	size_t len, cap;
	unsigned int nr_sections;
	struct snapfile_section *sections; /* loaded files only */
	char *path;			   /* names the file in messages */
	uint32_t version;		   /* the file's format (SNAPFILE_VERSION when built) */
};

/* Start an empty state file to be written to @path. 0 or -ENOMEM. */
int snapfile_init(struct snapfile *sf, const char *path);

/* Append section (@tag, @index) with @len bytes of @data (copied). 0 or -ENOMEM/-E2BIG. */
int snapfile_add(struct snapfile *sf, uint32_t tag, uint32_t index, const void *data, size_t len);

/*
 * Finish the header and checksum and write the file: a temporary file next
 * to sf->path, fsync, rename over sf->path, fsync of the directory. On a
 * failure nothing is left at sf->path that was not there before (the
 * temporary file is removed). 0, or -errno after a message naming the file.
 */
int snapfile_commit(struct snapfile *sf);

/*
 * Check @len bytes at @data as a state file named @name in messages:
 * magic, format version (SNAPFILE_VERSION_MIN to SNAPFILE_VERSION, in
 * sf->version), flags, size, checksum, every section inside the
 * file. On success @sf owns a copy and its section table. -EINVAL (wrong
 * magic, version, flags, checksum, layout) or -ENOMEM, after one line
 * naming @name and the fault.
 */
int snapfile_parse(struct snapfile *sf, const char *name, const void *data, size_t len);

/* Read @path (at most SNAPFILE_MAX bytes) and snapfile_parse() it. 0 or -errno, logged. */
int snapfile_load(struct snapfile *sf, const char *path);

/*
 * The section (@tag, @index) of a loaded file, which must be exactly @len
 * bytes long (0: any length, *@len_out set). NULL after a message naming
 * the file and the section when it is missing or of another size.
 */
const void *snapfile_find(const struct snapfile *sf, uint32_t tag, uint32_t index, size_t len,
			  size_t *len_out);

/* Like snapfile_find() but silent when the section is absent (NULL). */
const void *snapfile_find_opt(const struct snapfile *sf, uint32_t tag, uint32_t index,
			      size_t *len_out);

/*
 * Check that the guest memory file @fd, named @path in messages, is
 * exactly @size bytes, as the state file @sf says. 0, or -EINVAL / -errno
 * after a message naming both files and the sizes.
 */
int snapfile_check_mem(const struct snapfile *sf, const char *path, int fd, uint64_t size);

/* Free what @sf holds; it may then be initialised again. */
void snapfile_free(struct snapfile *sf);

#endif
