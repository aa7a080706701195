/* Shared by the feedback encoder (feedback_encode.c) and decoder (feedback.c). */
#ifndef MM_FEEDBACK_INTERNAL_H
#define MM_FEEDBACK_INTERNAL_H

#include "mm/feedback.h"

/** The four fields of SessionReady, and of the gensession reply, in the order they are written. */
extern const char *const mm__feedback_ready_keys[4];
extern const char *const mm__feedback_response_keys[4];

#endif
