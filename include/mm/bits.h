/*
 * A double kept in an atomic 64-bit integer: C11 has no portable atomic double, so a value one
 * thread publishes and others read (a rate, a share) travels as its bit pattern.
 */
#ifndef MM_BITS_H
#define MM_BITS_H

#include <stdint.h>
#include <string.h>

/** The bit pattern of d. */
static inline uint64_t
mm_double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

/** The double whose bit pattern is u. */
static inline double
mm_bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

#endif
