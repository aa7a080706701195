/*
 * Internals shared by the files of src/crypto (not part of the public API).
 *
 * Wire layout of a connect token (docs/protocol.md section 6), and the byte-order aware readers and
 * writers every integer goes through: the byte order applies to every integer of the token,
 * the associated data and the private data alike.
 */
#ifndef MM_TOKEN_INTERNAL_H
#define MM_TOKEN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mm/token.h"

#define MM__VERSION "NETCODE 1.02"
#define MM__VERSION_BYTES 13 /* the 12 characters and one zero byte */

#define MM__OFF_PROTOCOL 13
#define MM__OFF_CREATE 21
#define MM__OFF_EXPIRE 29
#define MM__OFF_NONCE 37
#define MM__OFF_PRIVATE 61
#define MM__OFF_TIMEOUT (MM__OFF_PRIVATE + MM_TOKEN_PRIVATE_BYTES) /* 1085 */
#define MM__OFF_ADDRESSES (MM__OFF_TIMEOUT + 4)                    /* 1089 */

#define MM__MAC_BYTES 16
#define MM__PLAIN_BYTES (MM_TOKEN_PRIVATE_BYTES - MM__MAC_BYTES) /* 1008 */
#define MM__AD_BYTES (MM__VERSION_BYTES + 8 + 8)                 /* 29 */

#define MM__ADDR_TYPE_IPV4 1
#define MM__ADDR_TYPE_IPV6 2

/* Longest address list on the wire: the count and 32 IPv6 entries. Both the public part
 * (61 + 1024 + 4 + 612 + 64 = 1765) and the private part (8 + 4 + 612 + 64 + 256 = 944 of 1008)
 * always fit, so writers never need to check for room. */
#define MM__ADDR_LIST_MAX (4 + MM_TOKEN_MAX_ADDRESSES * (1 + 16 + 2))

static inline void
mm__put_u16(uint8_t *p, uint16_t v, mm_byte_order order)
{
    if (order == MM_BYTE_ORDER_BIG) {
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
    } else {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
    }
}

static inline void
mm__put_u32(uint8_t *p, uint32_t v, mm_byte_order order)
{
    for (int i = 0; i < 4; i++) {
        int shift = order == MM_BYTE_ORDER_BIG ? 8 * (3 - i) : 8 * i;
        p[i] = (uint8_t)(v >> shift);
    }
}

static inline void
mm__put_u64(uint8_t *p, uint64_t v, mm_byte_order order)
{
    for (int i = 0; i < 8; i++) {
        int shift = order == MM_BYTE_ORDER_BIG ? 8 * (7 - i) : 8 * i;
        p[i] = (uint8_t)(v >> shift);
    }
}

static inline uint16_t
mm__get_u16(const uint8_t *p, mm_byte_order order)
{
    return order == MM_BYTE_ORDER_BIG ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static inline uint32_t
mm__get_u32(const uint8_t *p, mm_byte_order order)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int shift = order == MM_BYTE_ORDER_BIG ? 8 * (3 - i) : 8 * i;
        v |= (uint32_t)p[i] << shift;
    }
    return v;
}

static inline uint64_t
mm__get_u64(const uint8_t *p, mm_byte_order order)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        int shift = order == MM_BYTE_ORDER_BIG ? 8 * (7 - i) : 8 * i;
        v |= (uint64_t)p[i] << shift;
    }
    return v;
}

#endif
