/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_DISK_PATTERN_H
#define EVVM_TESTS_DISK_PATTERN_H

#include <stdint.h>

/*
 * The test guest's disk pattern (docs/guest.md): 32-bit little-endian word
 * i of the disk is a function of i and a seed, so either side can write it
 * and the other check it.
 */
uint32_t pattern_word(uint32_t i, uint32_t seed);

/* Write the pattern over sectors [0, @sectors) of the file at @path. */
void pattern_fill(const char *path, uint32_t seed, uint32_t sectors);

/* 0 if the file holds the pattern over @sectors, else 1 + the first wrong word. */
uint32_t pattern_check(const char *path, uint32_t seed, uint32_t sectors);

#endif
