/*
 * A listening TCP socket, made the one way every listener of ours needs it (the web front's
 * addresses, the admin listeners, edgegap_sim): numeric address, non-blocking, close-on-exec,
 * SO_REUSEADDR, the kernel's largest backlog.
 */
#ifndef MM_LISTEN_H
#define MM_LISTEN_H

#include <stddef.h>
#include <stdint.h>

/**
 * Listens on host (a numeric IPv4 or IPv6 address, no brackets) and port (0: the kernel's
 * choice). Returns the socket, and the port really bound in *port_out (may be NULL); or -1 with
 * why: "'<host>' is not a numeric IPv4 or IPv6 address", "socket: <reason>" or "cannot listen
 * on <host>:<port>: <reason>". Any thread.
 */
int mm_listen_tcp(const char *host, uint16_t port, uint16_t *port_out, char *why, size_t why_len);

#endif
