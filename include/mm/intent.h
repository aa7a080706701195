/*
 * Create intents (include/mm/orphans.h, docs/protocol.md): the id a matchmaker replica records in
 * mm_create_intents before a session create and puts in that session's webhook URL
 * (`?intent=<id>`); the web front hands it on, over NATS in the header MM_INTENT_HEADER of
 * matchmaker.webhook. Only the names and the syntax check live here, so the web front (net
 * layer) and the actors share them. Pure; any thread.
 */
#ifndef MM_INTENT_H
#define MM_INTENT_H

#include <stdbool.h>
#include <string.h>

/* The header of matchmaker.webhook that carries the intent id (our extension). */
#define MM_INTENT_HEADER "Mm-Intent"
/* The webhook URL's query parameter that carries it: the whole query is `intent=<id>`. */
#define MM_INTENT_QUERY "intent="
/* An intent id: 1..MM_INTENT_MAX characters of [A-Za-z0-9_-]; ours are "<replica>-<decimal n>". */
#define MM_INTENT_MAX 64

/** True when s is a valid intent id (see MM_INTENT_MAX). */
static inline bool
mm_intent_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > MM_INTENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

#endif
