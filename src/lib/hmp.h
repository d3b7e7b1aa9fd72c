/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hmp.h: a client for QEMU's human monitor (-monitor unix:PATH,server=on)
 * as old and new QEMUs speak it: a banner, then "(qemu) " prompts; each
 * command line is echoed back through QEMU's readline (with terminal escape
 * sequences) before the command's own output.
 *
 * Known limits: the reply is the text between the echoed line and the next
 * prompt; a command whose output itself contained "\n(qemu) " at a read
 * boundary would be cut short (no HMP command ptap uses prints that).
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#define PTAP_HMP_MAX_REPLY (1u << 20)
#define PTAP_HMP_MAX_LINE 1024

typedef struct ptap_hmp ptap_hmp;

/**
 * ptap_hmp_connect: connect to the human monitor at @path and read its
 * banner up to the first prompt, within @timeout_ms.
 * Returns 0, -EPROTO when no prompt comes (not a monitor), or -errno.
 */
int ptap_hmp_connect(const char *path, int timeout_ms, ptap_hmp **ret);

/** ptap_hmp_new_fd: the same on a connected stream socket @fd (taken over). */
int ptap_hmp_new_fd(int fd, int timeout_ms, ptap_hmp **ret);

/** ptap_hmp_free: close the connection. NULL is fine. */
void ptap_hmp_free(ptap_hmp *h);

/** ptap_hmp_banner: the banner's first line, e.g. "QEMU 0.12.5 monitor - ...". */
const char *ptap_hmp_banner(const ptap_hmp *h);

/**
 * ptap_hmp_line_check: 0 when @line may be sent as one command: 1 to
 * PTAP_HMP_MAX_LINE-1 bytes of printable ASCII (no newline, no control
 * character, no escape, no DEL, no byte >= 0x80). -EINVAL otherwise.
 */
int ptap_hmp_line_check(const char *line);

/**
 * ptap_hmp_command: send @line, read the reply up to the next prompt.
 * @reply: set to the reply text with the echo, escapes, "\r" and trailing
 *         newlines removed ("" when QEMU printed nothing); free() it.
 * Returns 0 (whatever QEMU printed: the caller judges the text), -EINVAL
 * for a refused line, -ETIMEDOUT, -ECONNRESET, -EMSGSIZE, or -errno.
 */
int ptap_hmp_command(ptap_hmp *h, const char *line, char **reply, int timeout_ms);

/** ptap_hmp_peer: SO_PEERCRED of the monitor socket; pointers may be NULL. */
int ptap_hmp_peer(const ptap_hmp *h, uid_t *uid, gid_t *gid, pid_t *pid);

/**
 * ptap_hmp_clean_reply: turn the raw bytes QEMU sent after a command (echo,
 * output, prompt) into the output text: drop ANSI/VT100 escape sequences
 * and "\r", the echoed first line, a trailing "(qemu) " prompt and trailing
 * newlines. Returns a new string or NULL (out of memory). Exposed for tests.
 */
char *ptap_hmp_clean_reply(const char *raw, size_t len, int has_echo);
