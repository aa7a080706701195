/*
 * Session-delete queue publisher (include/mm/delete_queue.h).
 *
 * A message on `edgegap_delete_session_q.<id>` with the id as payload, as the reference writes
 * it, plus `Nats-Msg-Id: <id>` (jsPubOptions.MsgId) so that JetStream de-duplicates repeats
 * from several replicas. Both calls build the message the same way; the synchronous one waits
 * for the acknowledgement and reports a duplicate at debug level (a duplicate is success: the
 * deletion is queued).
 */
#include <stdio.h>
#include <string.h>

#include "mm/delete_queue.h"
#include "mm/kv.h"
#include "mm/log.h"
#include "nats_error.h"

bool
mm_session_id_valid(const char *id)
{
    if (id == NULL)
        return false;
    size_t n = 0;
    for (; id[n] != '\0'; n++) {
        char c = id[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok || n >= MM_SESSION_ID_MAX)
            return false;
    }
    return n > 0;
}

/* The message for id (valid); its subject is the delete-queue subject. */
static mm_err
message_new(const char *id, natsMsg **out, char *why, size_t why_len)
{
    char subject[sizeof(MM_DELETE_SESSION_SUBJECT_PREFIX) + MM_SESSION_ID_MAX];
    snprintf(subject, sizeof(subject), "%s%s", MM_DELETE_SESSION_SUBJECT_PREFIX, id);
    if (natsMsg_Create(out, subject, NULL, id, (int)strlen(id)) != NATS_OK)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "delete queue: cannot build the message for %s", id);
    return MM_OK;
}

mm_err
mm_delete_queue_enqueue(jsCtx *js, const char *session_id, char *why, size_t why_len)
{
    return mm_delete_queue_enqueue_dup(js, session_id, NULL, why, why_len);
}

mm_err
mm_delete_queue_enqueue_dup(jsCtx *js, const char *session_id, bool *duplicate, char *why, size_t why_len)
{
    if (duplicate != NULL)
        *duplicate = false;
    if (js == NULL || !mm_session_id_valid(session_id))
        return mm_fail(MM_ERR_INVALID, why, why_len, "delete queue: not a valid session id");
    natsMsg *msg = NULL;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    mm_err err = message_new(session_id, &msg, why, why_len);
    if (err != MM_OK)
        return err;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = session_id;
    natsStatus s = js_PublishMsg(&ack, js, msg, &po, &jerr);
    if (s == NATS_OK) {
        if (duplicate != NULL)
            *duplicate = ack->Duplicate;
        if (ack->Duplicate)
            mm_debug("delete queue: %s was already queued (duplicate within the window)", session_id);
        else
            mm_debug("delete queue: queued %s (stream sequence %llu)", session_id, (unsigned long long)ack->Sequence);
    } else if (s == NATS_TIMEOUT) {
        err = mm_fail(MM_ERR_TIMEOUT, why, why_len, "delete queue: no acknowledgement for %s in time", session_id);
    } else if (s == NATS_NO_MEMORY) {
        err = mm_fail(MM_ERR_NOMEM, why, why_len, "delete queue: out of memory publishing %s", session_id);
    } else {
        err = mm_fail(MM_ERR_IO, why, why_len, "delete queue: publishing %s failed: %s (%s, JetStream error %d)", session_id,
                      mm__nats_error_text(), natsStatus_GetText(s), (int)jerr);
    }
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(msg);
    return err;
}

mm_err
mm_delete_queue_enqueue_async(jsCtx *js, const char *session_id, int64_t max_wait_ms, char *why, size_t why_len)
{
    if (js == NULL || !mm_session_id_valid(session_id) || max_wait_ms <= 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "delete queue: not a valid session id or ack wait");
    natsMsg *msg = NULL;
    mm_err err = message_new(session_id, &msg, why, why_len);
    if (err != MM_OK)
        return err;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = session_id;
    po.MaxWait = mm_js_ack_wait_ms(max_wait_ms); /* on a grid: js_ack_wait.c */
    natsStatus s = js_PublishMsgAsync(js, &msg, &po); /* takes msg (sets it NULL) on success */
    if (s == NATS_TIMEOUT)
        err = mm_fail(MM_ERR_FULL, why, why_len, "delete queue: too many publishes awaiting acknowledgement (%s)", session_id);
    else if (s != NATS_OK)
        err = mm_fail(MM_ERR_IO, why, why_len, "delete queue: publishing %s failed: %s (%s)", session_id, mm__nats_error_text(),
                      natsStatus_GetText(s));
    natsMsg_Destroy(msg);
    return err;
}

const char *
mm_delete_queue_msg_session(natsMsg *msg)
{
    const char *subject = msg != NULL ? natsMsg_GetSubject(msg) : NULL;
    size_t prefix = sizeof(MM_DELETE_SESSION_SUBJECT_PREFIX) - 1;
    if (subject == NULL || strncmp(subject, MM_DELETE_SESSION_SUBJECT_PREFIX, prefix) != 0 ||
        !mm_session_id_valid(subject + prefix))
        return NULL;
    return subject + prefix;
}
