/* The PVH boot information the VMM passes in %ebx (Xen hvm_start_info). */
#ifndef GUEST_PVH_H
#define GUEST_PVH_H

#include "types.h"

#define HVM_START_MAGIC		0x336ec578

struct hvm_start_info {
	u32 magic;
	u32 version;
	u32 flags;
	u32 nr_modules;
	u64 modlist_paddr;
	u64 cmdline_paddr;	/* NUL-terminated, 0 if none */
	u64 rsdp_paddr;
	u64 memmap_paddr;	/* version >= 1 */
	u32 memmap_entries;
	u32 reserved;
};

#endif
