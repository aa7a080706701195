/*
 * Request ids across services (include/mm/request_id.h): the seed, and the header on a NATS
 * request. No state; every function is safe on any thread.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "mm/request_id.h"

uint64_t
mm_request_id_seed(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) { /* no entropy yet: the clock will do for logs */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    }
    return (1ull << 40) + (r & ((1ull << 48) - 1));
}

natsStatus
mm_request_id_publish(natsConnection *nc, const char *subject, const char *reply, const char *data, int len, uint64_t id)
{
    if (id == 0)
        return natsConnection_PublishRequest(nc, subject, reply, data, len);
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, subject, reply, data, len);
    char text[24];
    snprintf(text, sizeof(text), "%llu", (unsigned long long)id);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, MM_REQUEST_ID_HEADER, text);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(nc, msg);
    natsMsg_Destroy(msg);
    return s;
}

uint64_t
mm_request_id_of(natsMsg *msg)
{
    const char *v = NULL;
    if (msg == NULL || natsMsgHeader_Get(msg, MM_REQUEST_ID_HEADER, &v) != NATS_OK || v == NULL)
        return 0;
    size_t n = strlen(v);
    if (n == 0 || n > 16)
        return 0;
    uint64_t id = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        id = id * 10 + (uint64_t)(v[i] - '0');
    }
    return id <= MM_REQUEST_ID_MAX ? id : 0;
}
