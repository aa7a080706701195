/*
 * Internal to src/actors: the one adapter from a typed backend to the web front's
 * mm_front_backend (include/mm/front.h). A backend `T` with functions
 *   mm_err P_submit(T *, const mm_front_request *, mm_reply_sink *);
 *   bool   P_ready(T *);
 *   size_t P_metrics(T *, char *buf, size_t len);
 *   mm_err P_webhook(T *, const char *session_id);
 *   mm_err P_webhook_intent(T *, const char *session_id, const char *intent);
 * gets, from MM__FRONT_BACKEND_ADAPTER(T, P), its public `void P_backend(T *, mm_front_backend *out)`
 * and the four void-pointer trampolines behind it (calling through a cast function pointer
 * would be undefined behaviour, so each backend needs its own; this writes them once).
 */
#ifndef MM_ACTORS_FRONT_BACKEND_ADAPTER_H
#define MM_ACTORS_FRONT_BACKEND_ADAPTER_H

#include "mm/front.h"

#define MM__FRONT_BACKEND_ADAPTER(T, P)                                                                                  \
    static mm_err P##__front_submit(void *ctx, const mm_front_request *req, mm_reply_sink *sink)                       \
    {                                                                                                                  \
        return P##_submit((T *)ctx, req, sink);                                                                        \
    }                                                                                                                  \
    static bool P##__front_ready(void *ctx)                                                                            \
    {                                                                                                                  \
        return P##_ready((T *)ctx);                                                                                    \
    }                                                                                                                  \
    static size_t P##__front_metrics(void *ctx, char *buf, size_t len)                                                 \
    {                                                                                                                  \
        return P##_metrics((T *)ctx, buf, len);                                                                        \
    }                                                                                                                  \
    static mm_err P##__front_webhook(void *ctx, const char *session_id)                                                \
    {                                                                                                                  \
        return P##_webhook((T *)ctx, session_id);                                                                      \
    }                                                                                                                  \
    static mm_err P##__front_webhook_intent(void *ctx, const char *session_id, const char *intent)                     \
    {                                                                                                                  \
        return P##_webhook_intent((T *)ctx, session_id, intent);                                                       \
    }                                                                                                                  \
    void P##_backend(T *obj, mm_front_backend *out)                                                                    \
    {                                                                                                                  \
        *out = (mm_front_backend){.ctx = obj,                                                                          \
                                  .submit = P##__front_submit,                                                         \
                                  .ready = P##__front_ready,                                                           \
                                  .metrics = P##__front_metrics,                                                       \
                                  .webhook = P##__front_webhook,                                                       \
                                  .webhook_intent = P##__front_webhook_intent};                                        \
    }

#endif
