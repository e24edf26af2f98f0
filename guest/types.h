/* Fixed-width types and the few compiler helpers every file uses. */
#ifndef GUEST_TYPES_H
#define GUEST_TYPES_H

/* Freestanding headers come with the compiler, not the C library. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

#define __packed		__attribute__((packed))
#define __aligned(x)		__attribute__((aligned(x)))
#define __noreturn		__attribute__((noreturn))
#define __used			__attribute__((used))
#define __printf(a, b)		__attribute__((format(printf, a, b)))

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

/* Stop the compiler from moving memory accesses across this point. */
#define barrier()		asm volatile("" ::: "memory")

/* Shared with other CPUs or interrupt handlers: one real access each. */
#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))

#endif
