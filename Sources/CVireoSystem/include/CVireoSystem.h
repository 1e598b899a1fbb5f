// CVireoSystem: Linux syscalls and macros the Swift importer does not expose (epoll, eventfd, memfd, SCM_RIGHTS).
// Prefixed wrappers only; no logic.
#ifndef CVIREOSYSTEM_H
#define CVIREOSYSTEM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/// memfd_create(2) through syscall(2): glibc's wrapper is _GNU_SOURCE-only.
int cvireo_memfd_create(const char *name, unsigned int flags);
unsigned int cvireo_mfd_cloexec(void);
unsigned int cvireo_mfd_allow_sealing(void);

/// eventfd(2) with EFD_CLOEXEC | EFD_NONBLOCK.
int cvireo_eventfd(unsigned int initval);
int cvireo_eventfd_read(int fd, uint64_t *value);
int cvireo_eventfd_write(int fd, uint64_t value);

/// epoll(7), one event per call slot: events are EPOLLIN | EPOLLHUP | EPOLLERR; data is the caller's tag.
int cvireo_epoll_create(void);
int cvireo_epoll_add(int epfd, int fd, uint64_t tag);
int cvireo_epoll_del(int epfd, int fd);
/// Waits; fills tags[] and flags[] (bit 0: readable, bit 1: hangup/error). Returns count or -1 (errno set).
int cvireo_epoll_wait(int epfd, uint64_t *tags, uint32_t *flags, int max, int timeout_ms);

/// sendmsg(2) with up to `nfds` file descriptors as SCM_RIGHTS. MSG_NOSIGNAL.
ssize_t cvireo_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
/// recvmsg(2) receiving up to `maxfds` descriptors (MSG_CMSG_CLOEXEC). *nfds_out is set to the count received;
/// *truncated to 1 if the kernel dropped control data (more fds than fit). Extra descriptors are closed.
ssize_t cvireo_recv_with_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds_out, int *truncated);

/// sendmsg(2) of a gather list (at most IOV_MAX entries), MSG_NOSIGNAL, no descriptors.

ssize_t cvireo_sendmsg_iov(int sock, const struct iovec *iov, int iovcnt);
/// IOV_MAX: the most entries one sendmsg(2) takes.
int cvireo_iov_max(void);

/// Unix stream sockets.
int cvireo_unix_listen(const char *path, int backlog);
int cvireo_unix_connect(const char *path);
int cvireo_socketpair(int fds[2]);
int cvireo_accept(int fd);
/// poll(2) for readability with a timeout; returns 1 readable, 0 timeout, -1 error.
int cvireo_poll_readable(int fd, int timeout_ms);
/// poll(2) for writability with a timeout; returns 1 writable, 0 timeout, -1 error.
int cvireo_poll_writable(int fd, int timeout_ms);
/// recv(2) with MSG_DONTWAIT: -1 with errno EAGAIN when nothing is there yet.
ssize_t cvireo_recv_nonblocking(int sock, void *buf, size_t len);
/// SO_SNDBUF (the kernel caps it at net.core.wmem_max and doubles it); returns the size in effect, or -1.
int cvireo_set_send_buffer(int sock, int bytes);

/// Flags for mmap(2).
int cvireo_prot_read(void);
int cvireo_prot_write(void);
int cvireo_map_shared(void);
void *cvireo_map_failed(void);
/// Memory fences for rings shared with the guest (virtio 2.7.13: ordering of index and descriptor accesses).
void cvireo_fence_seq_cst(void);
void cvireo_fence_acquire(void);
void cvireo_fence_release(void);
/// A spin-wait hint to the CPU (x86 PAUSE, arm64 YIELD).
void cvireo_cpu_relax(void);
/// CLOCK_MONOTONIC in nanoseconds (vDSO, no syscall).
uint64_t cvireo_monotonic_ns(void);
#endif
