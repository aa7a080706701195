/*
 * mm_listen_tcp (include/mm/listen.h): the address is parsed with inet_pton only (no resolver:
 * a listen address is configuration, and a name could resolve differently tomorrow).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mm/err.h"
#include "mm/listen.h"

int
mm_listen_tcp(const char *host, uint16_t port, uint16_t *port_out, char *why, size_t why_len)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (host != NULL && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        sl = sizeof(*v4);
    } else if (host != NULL && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        sl = sizeof(*v6);
    } else {
        mm_fail(MM_ERR_INVALID, why, why_len, "'%s' is not a numeric IPv4 or IPv6 address", host != NULL ? host : "(none)");
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (fd < 0) {
        mm_fail(MM_ERR_IO, why, why_len, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        mm_fail(MM_ERR_IO, why, why_len, ss.ss_family == AF_INET6 ? "cannot listen on [%s]:%u: %s" : "cannot listen on %s:%u: %s",
                host, (unsigned)port, strerror(e));
        close(fd);
        return -1;
    }
    sl = sizeof(ss);
    if (port_out != NULL)
        *port_out = getsockname(fd, (struct sockaddr *)&ss, &sl) == 0
                        ? ntohs(ss.ss_family == AF_INET6 ? v6->sin6_port : v4->sin_port)
                        : port;
    return fd;
}
