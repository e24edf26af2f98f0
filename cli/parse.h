/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_PARSE_H
#define EVVM_CLI_PARSE_H

#include <stdint.h>

/*
 * Parsers for command-line values. Each returns 0 or -EINVAL and never
 * prints; the caller names the flag in its message.
 */

/* "512M", "2G", "65536" (bytes); suffixes K, M, G, T are powers of 1024. */
int parse_size(const char *s, uint64_t *out);

/* A decimal unsigned integer in [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Split "k1=v1,k2=v2" in place: each call returns the next pair through
 * @key/@val and advances *@s; returns 1 for a pair, 0 at the end, -EINVAL
 * for an item without '=' or with an empty key.
 */
int parse_kv_next(char **s, char **key, char **val);

/* "52:54:00:12:34:56": six hex bytes; a multicast address is refused. */
int parse_mac(const char *s, uint8_t mac[6]);

#endif
