/*
 * KV helpers (include/mm/kv.h): string get/put/delete with nats.c statuses translated into mm_err
 * at this edge. A failure other than "not found" is logged once here with bucket and key; values
 * are never logged (callers decide what is fit for a log line).
 *
 * The revision-checked delete is built by hand (nats.c 3.4.1 has none): the same message
 * kvStore_Delete publishes, plus the expected-last-subject-sequence header, sent with
 * js_PublishMsgAsync. Its outcome is read back from the message the ack handler receives (the
 * subject names the key, the header the revision), so a caller needs no table of its own to
 * match acknowledgements to requests.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "mm/kv.h"
#include "mm/log.h"
#include "mm/parse.h"
#include "nats_error.h"

#define KV_SUBJECT_PREFIX "$KV."
#define KV_OPERATION_HEADER "KV-Operation"
#define EXPECTED_LAST_SUBJECT_SEQ_HEADER "Nats-Expected-Last-Subject-Sequence"

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

mm_err
mm_kv_delete_at_async(jsCtx *js, kvStore *kv, const char *key, uint64_t revision, int64_t max_wait_ms, char *why, size_t why_len)
{
    char subject[512];
    natsMsg *msg = NULL;
    if (js == NULL || kv == NULL || !mm_kv_key_valid(key) || revision == 0 || max_wait_ms <= 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "kv: revision-checked delete: bad key, revision or ack wait");
    int n = snprintf(subject, sizeof(subject), KV_SUBJECT_PREFIX "%s.%s", kvStore_Bucket(kv), key);
    if (n < 0 || (size_t)n >= sizeof(subject))
        return mm_fail(MM_ERR_INVALID, why, why_len, "kv: revision-checked delete: key of %zu bytes is too long", strlen(key));
    if (natsMsg_Create(&msg, subject, NULL, NULL, 0) != NATS_OK || natsMsgHeader_Set(msg, KV_OPERATION_HEADER, "DEL") != NATS_OK) {
        natsMsg_Destroy(msg);
        return mm_fail(MM_ERR_NOMEM, why, why_len, "kv: out of memory building the delete of %s/%s", kvStore_Bucket(kv), key);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = revision;
    po.MaxWait = mm_js_ack_wait_ms(max_wait_ms); /* on a grid: js_ack_wait.c */
    mm_err err = MM_OK;
    natsStatus s = js_PublishMsgAsync(js, &msg, &po); /* takes msg (sets it NULL) on success */
    if (s == NATS_TIMEOUT)
        err = mm_fail(MM_ERR_FULL, why, why_len, "kv: delete of %s/%s: too many publishes awaiting acknowledgement",
                      kvStore_Bucket(kv), key);
    else if (s == NATS_NO_MEMORY)
        err = mm_fail(MM_ERR_NOMEM, why, why_len, "kv: out of memory publishing the delete of %s/%s", kvStore_Bucket(kv), key);
    else if (s != NATS_OK)
        err = mm_fail(MM_ERR_IO, why, why_len, "kv: delete of %s/%s failed: %s (%s)", kvStore_Bucket(kv), key,
                      mm__nats_error_text(), natsStatus_GetText(s));
    natsMsg_Destroy(msg);
    return err;
}

bool
mm_kv_delete_at_match(natsMsg *msg, const char *bucket, const char **key, uint64_t *revision)
{
    const char *subject = msg != NULL ? natsMsg_GetSubject(msg) : NULL;
    const char *op = NULL, *expected = NULL;
    size_t prefix = strlen(KV_SUBJECT_PREFIX), blen = bucket != NULL ? strlen(bucket) : 0;
    if (subject == NULL || blen == 0 || strncmp(subject, KV_SUBJECT_PREFIX, prefix) != 0 ||
        strncmp(subject + prefix, bucket, blen) != 0 || subject[prefix + blen] != '.' || subject[prefix + blen + 1] == '\0')
        return false;
    if (natsMsgHeader_Get(msg, KV_OPERATION_HEADER, &op) != NATS_OK || op == NULL || strcmp(op, "DEL") != 0)
        return false;
    uint64_t rev = 0;
    if (natsMsgHeader_Get(msg, EXPECTED_LAST_SUBJECT_SEQ_HEADER, &expected) != NATS_OK || expected == NULL ||
        mm_parse_u64(expected, 1, UINT64_MAX, &rev, NULL, 0) != MM_OK)
        return false;
    *key = subject + prefix + blen + 1;
    *revision = rev;
    return true;
}

mm_err
mm_js_pub_outcome(const jsPubAck *pa, const jsPubAckErr *pae)
{
    if (pa != NULL)
        return MM_OK;
    if (pae == NULL)
        return MM_ERR_IO;
    if (pae->ErrCode == JSStreamWrongLastSequenceErr)
        return MM_ERR_NOTFOUND;
    switch (pae->Err) {
    case NATS_TIMEOUT:
        return MM_ERR_TIMEOUT;
    case NATS_NO_MEMORY:
        return MM_ERR_NOMEM;
    default:
        return MM_ERR_IO;
    }
}
