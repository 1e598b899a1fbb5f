// CVireoSystem: thin wrappers over Linux syscalls and macros; see the header.
#define _GNU_SOURCE
#include "CVireoSystem.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int cvireo_memfd_create(const char *name, unsigned int flags) { return (int)syscall(SYS_memfd_create, name, flags); }
unsigned int cvireo_mfd_cloexec(void) { return MFD_CLOEXEC; }
unsigned int cvireo_mfd_allow_sealing(void) { return MFD_ALLOW_SEALING; }

int cvireo_eventfd(unsigned int initval) { return eventfd(initval, EFD_CLOEXEC | EFD_NONBLOCK); }
int cvireo_eventfd_read(int fd, uint64_t *value) {
    ssize_t n;
    do { n = read(fd, value, sizeof *value); } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof *value ? 0 : -1;
}
int cvireo_eventfd_write(int fd, uint64_t value) {
    ssize_t n;
    do { n = write(fd, &value, sizeof value); } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof value ? 0 : -1;
}

int cvireo_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
int cvireo_epoll_add(int epfd, int fd, uint64_t tag) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}
int cvireo_epoll_del(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }
int cvireo_epoll_wait(int epfd, uint64_t *tags, uint32_t *flags, int max, int timeout_ms) {
    struct epoll_event evs[32];
    if (max > 32) max = 32;
    int n;
    do { n = epoll_wait(epfd, evs, max, timeout_ms); } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; i++) {
        tags[i] = evs[i].data.u64;
        flags[i] = ((evs[i].events & EPOLLIN) ? 1u : 0u) | ((evs[i].events & (EPOLLHUP | EPOLLERR)) ? 2u : 0u);
    }
    return n;
}

ssize_t cvireo_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds) {
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int) * 16)];
    if (nfds > 16 || nfds < 0) { errno = EINVAL; return -1; }
    if (nfds > 0) {
        memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n;
}

ssize_t cvireo_recv_with_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds_out, int *truncated) {
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int) * 32)];
    memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    *nfds_out = 0;
    *truncated = 0;
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return n;
    if (msg.msg_flags & MSG_CTRUNC) *truncated = 1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *data = (int *)CMSG_DATA(cm);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, data + i, sizeof fd);
            if (*nfds_out < maxfds) fds[(*nfds_out)++] = fd;
            else { close(fd); *truncated = 1; }
        }
    }
    return n;
}

/// Fills a unix socket address; ENAMETOOLONG when the path does not fit.
static int cvireo_unix_address(const char *path, struct sockaddr_un *addr) {
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr->sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(addr->sun_path, path);
    return 0;
}

int cvireo_unix_listen(const char *path, int backlog) {
    struct sockaddr_un addr;
    if (cvireo_unix_address(path, &addr) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, backlog) < 0) {
        int e = errno; close(fd); errno = e; return -1;
    }
    return fd;
}
int cvireo_unix_connect(const char *path) {
    struct sockaddr_un addr;
    if (cvireo_unix_address(path, &addr) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int r;
    do { r = connect(fd, (struct sockaddr *)&addr, sizeof addr); } while (r < 0 && errno == EINTR);
    if (r < 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}
int cvireo_socketpair(int fds[2]) { return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds); }
int cvireo_accept(int fd) {
    int r;
    do { r = accept4(fd, NULL, NULL, SOCK_CLOEXEC); } while (r < 0 && errno == EINTR);
    return r;
}
int cvireo_poll_readable(int fd, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int r;
    do { r = poll(&p, 1, timeout_ms); } while (r < 0 && errno == EINTR);
    return r;
}
int cvireo_poll_writable(int fd, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int r;
    do { r = poll(&p, 1, timeout_ms); } while (r < 0 && errno == EINTR);
    return r;
}
ssize_t cvireo_recv_nonblocking(int sock, void *buf, size_t len) { return recv(sock, buf, len, MSG_DONTWAIT); }
ssize_t cvireo_sendmsg_iov(int sock, const struct iovec *iov, int iovcnt) {
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = (struct iovec *)iov;
    msg.msg_iovlen = (size_t)iovcnt;
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}
int cvireo_iov_max(void) { return IOV_MAX; }
int cvireo_prot_read(void) { return PROT_READ; }
int cvireo_prot_write(void) { return PROT_WRITE; }
int cvireo_map_shared(void) { return MAP_SHARED; }
void *cvireo_map_failed(void) { return MAP_FAILED; }
void cvireo_fence_seq_cst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
void cvireo_fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
void cvireo_fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }
void cvireo_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
uint64_t cvireo_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
int cvireo_set_send_buffer(int sock, int bytes) {
    if (setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) != 0) return -1;
    int current = 0;
    socklen_t len = sizeof current;
    if (getsockopt(sock, SOL_SOCKET, SO_SNDBUF, &current, &len) != 0) return -1;
    return current;
}
