/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * monsock.h: the socket plumbing shared by the QMP and HMP clients (internal
 * to the monitor room): non-blocking unix stream sockets driven by poll()
 * against a deadline, and peer credentials.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** ptap_monsock_deadline: ptap_now_ms() (util.h) + @timeout_ms, or -1
 * (never) when < 0. */
int64_t ptap_monsock_deadline(int timeout_ms);

/**
 * ptap_monsock_connect: connect a SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK unix
 * socket to @path. Returns the fd, -ENAMETOOLONG, -ETIMEDOUT or -errno.
 */
int ptap_monsock_connect(const char *path, int64_t deadline);

/**
 * ptap_monsock_connect_timeout: ptap_monsock_connect() within @timeout_ms
 * (< 0: no limit); *@left_ms gets what remains of it for the handshake.
 */
int ptap_monsock_connect_timeout(const char *path, int timeout_ms, int *left_ms);

/**
 * ptap_monsock_read: wait until @fd is readable (or @deadline passes) and read
 * up to @len bytes. Returns the byte count (> 0), -ECONNRESET at end of
 * stream, -ETIMEDOUT, or -errno.
 */
ssize_t ptap_monsock_read(int fd, void *buf, size_t len, int64_t deadline);

/** ptap_monsock_write_all: write all of @buf (MSG_NOSIGNAL), polling as needed. */
int ptap_monsock_write_all(int fd, const void *buf, size_t len, int64_t deadline);

/** ptap_monsock_peer: SO_PEERCRED of @fd; any pointer may be NULL. */
int ptap_monsock_peer(int fd, uid_t *uid, gid_t *gid, pid_t *pid);

/** ptap_monsock_set_nonblock: make @fd non-blocking (for adopted fds). */
int ptap_monsock_set_nonblock(int fd);
