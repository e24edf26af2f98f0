#include "cmdline.h"
#include "io.h"
#include "lib.h"

static char raw[CMDLINE_MAX];
/* The same bytes with every space turned into a NUL: one word per string. */
static char words[CMDLINE_MAX];
static size_t len;

void cmdline_init(u64 paddr)
{
	const char *src;
	size_t i;

	/* Only the identity-mapped first 4 GiB is reachable. */
	if (!paddr || paddr >= (1ULL << 32))
		return;
	src = phys_to_virt(paddr);
	len = strnlen(src, CMDLINE_MAX - 1);
	memcpy(raw, src, len);
	for (i = 0; i < len; i++)
		words[i] = raw[i] == ' ' ? '\0' : raw[i];
}

const char *cmdline_raw(void)
{
	return raw;
}

const char *cmdline_get(const char *key)
{
	size_t klen = strlen(key);
	const char *w = words;

	while (w < words + len) {
		if (!strncmp(w, key, klen) && w[klen] == '=')
			return w + klen + 1;
		w += strlen(w) + 1;
	}
	return NULL;
}
