/*
 * The NATS connection every service opens, configured from the environment (docs/protocol.md section 8).
 *
 *   NATS_HOST         required. "host", "host:port", "[v6]:port", a URL ("nats://h:p", "tls://h:p"),
 *                     or a comma-separated list of those. The default port is 4222.
 *   NATS_USER         optional; NATS_PASSWORD (alias NATS_PASS) must then be set too, and the
 *                     other way round.
 *   NATS_INSECURE     set (to anything, even empty, as in the reference): plain TCP. Unset: TLS is
 *                     required (natsOptions_SetSecure).
 *   NATS_CA           path of a CA certificate that signs the server's certificate.
 *   NATS_CA_CONTENTS  the PEM text of that CA (used when NATS_CA is not set): written to a private
 *                     temporary file (mode 0600) which mm_nats_env_destroy() removes.
 *
 * The connection reconnects for ever with a capped backoff, and it may be opened before the server
 * is up (RetryOnFailedConnect): mm_nats_connect() returns after one attempt and
 * mm_nats_wait_connected() waits. Disconnects, reconnects and asynchronous errors are logged, one line each. The password
 * is never logged; no URL we build carries credentials, and credentials someone wrote into a
 * NATS_HOST URL are masked in log lines.
 */
#ifndef MM_NATS_ENV_H
#define MM_NATS_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/err.h"

/** The connection settings read from the environment. Owned by the caller; see destroy. */
typedef struct mm_nats_env {
    char **servers;       /* URLs for nats.c ("nats://host:port"; a URL in NATS_HOST is kept as written) */
    int server_count;     /* >= 1 */
    char *user;           /* NULL when unset */
    char *password;       /* NULL when unset; never logged; wiped by destroy */
    bool insecure;        /* NATS_INSECURE was set: no TLS */
    char *ca_path;        /* NATS_CA, or the temp file holding NATS_CA_CONTENTS; NULL: system trust */
    bool ca_path_is_temp; /* ca_path is our temp file: destroy removes it */
} mm_nats_env;

/**
 * Reads the variables above. On success *out is a new mm_nats_env. On failure returns
 * MM_ERR_INVALID (a variable is missing or malformed: *var, when var is not NULL, points at the
 * variable's name, a static string), MM_ERR_SYS (the CA temp file could not be written) or
 * MM_ERR_NOMEM, and why holds a one-line message that names the variable. Programs print that
 * line and exit with status 2 for MM_ERR_INVALID.
 */
mm_err mm_nats_env_read(mm_nats_env **out, const char **var, char *why, size_t why_len);

/** Wipes the password, removes the CA temp file if we made one, frees. Accepts NULL. */
void mm_nats_env_destroy(mm_nats_env *env);

/** Options of mm_nats_connect(). Zero values mean the defaults shown. */
typedef struct mm_nats_connect_opts {
    const char *name;          /* connection name the server shows; default "mm" */
    bool send_asap;            /* flush each publish at once (latency-sensitive connections, docs/libnotes.md) */
    int reconnect_wait_ms;     /* first wait after every server failed; doubles up to the max; default 250 */
    int reconnect_max_wait_ms; /* cap of that backoff; default 2000 */
    int reconnect_jitter_ms;   /* random extra wait, up to this; default 100 */
} mm_nats_connect_opts;

/** A NATS connection plus what its callbacks need. Opaque. */
typedef struct mm_nats mm_nats;

/**
 * Opens a connection to env's servers. Makes one attempt at once: when no server is reachable
 * yet, returns MM_OK with the library retrying for ever in the background (see
 * mm_nats_wait_connected()). MM_ERR_INVALID when the options are refused (for example a CA file
 * that cannot be loaded), MM_ERR_IO when a server answered but the connection failed in a way
 * retrying cannot fix (user/password refused, TLS handshake failed, TLS required but not offered);
 * why holds the reason. env is only read during the call.
 */
mm_err mm_nats_connect(const mm_nats_env *env, const mm_nats_connect_opts *opts, mm_nats **out, char *why, size_t why_len);

/**
 * Waits until the connection is established: MM_OK; MM_ERR_TIMEOUT after timeout_ms;
 * MM_ERR_STOPPED when nats.c gave up and closed the connection for good (it does so on errors
 * that retrying cannot fix, such as a refused user/password or a failed TLS handshake; the
 * reason was logged and mm_nats_last_error() returns it).
 */
mm_err mm_nats_wait_connected(mm_nats *nats, int64_t timeout_ms);

/** True while connected. */
bool mm_nats_is_connected(mm_nats *nats);

/** The nats.c connection, owned by nats; valid until mm_nats_destroy(). */
natsConnection *mm_nats_connection(mm_nats *nats);

/** Copies the last connection error text (or "") into buf. Never holds the password. */
void mm_nats_last_error(mm_nats *nats, char *buf, size_t len);

/**
 * Flushes, closes the connection, waits (bounded) until its callbacks are done, then frees.
 * Accepts NULL. Call nats_Close() once at program exit, after every connection is destroyed.
 */
void mm_nats_destroy(mm_nats *nats);

#endif
