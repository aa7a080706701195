/*
 * KV helpers (include/mm/kv.h): string get/put/delete with nats.c statuses translated into mm_err
 * at this edge. A failure other than "not found" is logged once here with bucket and key; values
 * are never logged (callers decide what is fit for a log line).
 */
#include <ctype.h>
#include <string.h>

#include "mm/kv.h"
#include "mm/log.h"
#include "nats_error.h"

static mm_err
translate(natsStatus s, kvStore *kv, const char *op, const char *key)
{
    switch (s) {
    case NATS_OK:
        return MM_OK;
    case NATS_NOT_FOUND:
        return MM_ERR_NOTFOUND;
    case NATS_TIMEOUT:
        mm_warn("kv: %s %s/%s timed out", op, kvStore_Bucket(kv), key);
        return MM_ERR_TIMEOUT;
    case NATS_NO_MEMORY:
        return MM_ERR_NOMEM;
    default: {
        mm_warn("kv: %s %s/%s failed: %s (%s)", op, kvStore_Bucket(kv), key, mm__nats_error_text(), natsStatus_GetText(s));
        return MM_ERR_IO;
    }
    }
}

int
mm_kv_key_valid(const char *key)
{
    if (key == NULL || *key == '\0')
        return 0;
    size_t len = strlen(key);
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        if (c == '.') {
            if (i == 0 || i == len - 1 || key[i - 1] == '.')
                return 0;
        } else if (!isalnum((unsigned char)c) && c != '_' && c != '-' && c != '/' && c != '\\' && c != '=') {
            return 0;
        }
    }
    return 1;
}

mm_err
mm_kv_get_str(kvStore *kv, const char *key, char *buf, size_t len, uint64_t *revision)
{
    kvEntry *e = NULL;
    if (!mm_kv_key_valid(key) || len == 0)
        return MM_ERR_INVALID;
    mm_err err = translate(kvStore_Get(&e, kv, key), kv, "get", key);
    if (err != MM_OK)
        return err;
    int n = kvEntry_ValueLen(e);
    if (n < 0 || (size_t)n >= len) {
        mm_warn("kv: get %s/%s: value of %d bytes does not fit in %zu", kvStore_Bucket(kv), key, n, len);
        err = MM_ERR_INVALID;
    } else {
        memcpy(buf, kvEntry_Value(e), (size_t)n);
        buf[n] = '\0';
        if (revision != NULL)
            *revision = kvEntry_Revision(e);
    }
    kvEntry_Destroy(e);
    return err;
}

mm_err
mm_kv_put_str(kvStore *kv, const char *key, const char *value, uint64_t *revision)
{
    uint64_t rev = 0;
    if (!mm_kv_key_valid(key) || value == NULL)
        return MM_ERR_INVALID;
    mm_err err = translate(kvStore_PutString(&rev, kv, key, value), kv, "put", key);
    if (err == MM_OK && revision != NULL)
        *revision = rev;
    return err;
}

mm_err
mm_kv_delete(kvStore *kv, const char *key)
{
    if (!mm_kv_key_valid(key))
        return MM_ERR_INVALID;
    return translate(kvStore_Delete(kv, key), kv, "delete", key);
}
