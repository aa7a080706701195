/*
 * Internal to src/net: the text of nats.c's last error on this thread, without the
 * "(conn.c:733): " source-position prefix nats.c puts in front. Never NULL.
 */
#ifndef MM_NET_NATS_ERROR_H
#define MM_NET_NATS_ERROR_H

#include <string.h>

#include <nats/nats.h>

static inline const char *
mm__nats_error_text(void)
{
    const char *text = nats_GetLastError(NULL);
    if (text == NULL || *text == '\0')
        return "unknown error";
    if (text[0] == '(') {
        const char *end = strstr(text, "): ");
        if (end != NULL)
            return end + 3;
    }
    return text;
}

#endif
