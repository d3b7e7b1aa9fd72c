/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "hmp.h"
#include "log.h"
#include "monsock.h"
#include "util.h"

#define PROMPT "(qemu) "

struct ptap_hmp {
    int fd;
    char *banner;
};

void ptap_hmp_free(ptap_hmp *h)
{
    if (!h)
        return;
    if (h->fd >= 0)
        close(h->fd);
    free(h->banner);
    free(h);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(ptap_hmp *, ptap_hmp_free)

int ptap_hmp_line_check(const char *line)
{
    size_t n;

    if (!line)
        return -EINVAL;
    n = strlen(line);
    if (n == 0 || n >= PTAP_HMP_MAX_LINE)
        return -EINVAL;
    for (const unsigned char *p = (const unsigned char *) line; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            return -EINVAL;
    return 0;
}

char *ptap_hmp_clean_reply(const char *raw, size_t len, int has_echo)
{
    _cleanup_free_ char *out = malloc(len + 1);
    size_t o = 0;
    char *s;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) raw[i];

        if (c == 0x1b) {
            /* ESC [ params final  |  ESC single-char */
            if (i + 1 < len && raw[i + 1] == '[') {
                i += 2;
                while (i < len && !(raw[i] >= '@' && raw[i] <= '~'))
                    i++;
            } else if (i + 1 < len) {
                i++;
            }
            continue;
        }
        if (c == '\r' || c == '\0')
            continue;
        out[o++] = (char) c;
    }
    out[o] = '\0';

    s = out;
    if (has_echo) {
        /* The echo never contains a newline: the output starts after it. */
        char *nl = strchr(s, '\n');
        s = nl ? nl + 1 : s + strlen(s);
    }
    /* Drop the trailing prompt and the newlines before it. */
    size_t n = strlen(s);
    size_t pl = strlen(PROMPT);
    if (n >= pl && memcmp(s + n - pl, PROMPT, pl) == 0)
        n -= pl;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        n--;
    s[n] = '\0';
    return strdup(s);
}

/* Does the text received so far end in a prompt? */
static bool ends_with_prompt(const char *buf, size_t len)
{
    size_t pl = strlen(PROMPT);

    return len >= pl && memcmp(buf + len - pl, PROMPT, pl) == 0;
}

/* Read until the stream ends with a prompt; *ret gets the raw bytes. */
static int read_to_prompt(ptap_hmp *h, int64_t deadline, char **ret, size_t *ret_len)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, cap = 0;

    for (;;) {
        if (cap - len < 1024) {
            size_t ncap = cap ? cap * 2 : 4096;
            if (ncap > PTAP_HMP_MAX_REPLY + 4096)
                return -EMSGSIZE;
            char *n = realloc(buf, ncap);
            if (!n)
                return -ENOMEM;
            buf = n;
            cap = ncap;
        }
        ssize_t n = ptap_monsock_read(h->fd, buf + len, cap - len - 1, deadline);
        if (n < 0)
            return (int) n;
        len += (size_t) n;
        buf[len] = '\0';
        if (ends_with_prompt(buf, len))
            break;
    }
    *ret_len = len;
    *ret = TAKE_PTR(buf);
    return 0;
}

int ptap_hmp_new_fd(int fd, int timeout_ms, ptap_hmp **ret)
{
    _cleanup_(ptap_hmp_freep) ptap_hmp *h = NULL;
    _cleanup_free_ char *raw = NULL;
    size_t len;
    int r;

    if (fd < 0)
        return -EBADF;
    h = calloc(1, sizeof(*h));
    if (!h) {
        close(fd);
        return -ENOMEM;
    }
    h->fd = fd;
    r = ptap_monsock_set_nonblock(fd);
    if (r < 0)
        return r;
    r = read_to_prompt(h, ptap_monsock_deadline(timeout_ms), &raw, &len);
    if (r == -ETIMEDOUT || r == -EMSGSIZE) {
        ptap_debug("hmp: no '(qemu) ' prompt: not a human monitor");
        return -EPROTO;
    }
    if (r < 0)
        return r;
    h->banner = ptap_hmp_clean_reply(raw, len, 0);
    if (!h->banner)
        return -ENOMEM;
    h->banner[strcspn(h->banner, "\n")] = '\0';
    ptap_debug("hmp: connected: %s", h->banner);
    *ret = TAKE_PTR(h);
    return 0;
}

int ptap_hmp_connect(const char *path, int timeout_ms, ptap_hmp **ret)
{
    int left;
    int fd = ptap_monsock_connect_timeout(path, timeout_ms, &left);

    if (fd < 0)
        return fd;
    return ptap_hmp_new_fd(fd, left, ret);
}

const char *ptap_hmp_banner(const ptap_hmp *h)
{
    return h->banner;
}

int ptap_hmp_command(ptap_hmp *h, const char *line, char **reply, int timeout_ms)
{
    int64_t deadline = ptap_monsock_deadline(timeout_ms);
    _cleanup_free_ char *msg = NULL, *raw = NULL;
    size_t len;
    int r;

    if (reply)
        *reply = NULL;
    r = ptap_hmp_line_check(line);
    if (r < 0) {
        ptap_debug("hmp: refusing a command line with control characters or of bad length");
        return r;
    }
    if (asprintf(&msg, "%s\n", line) < 0)
        return -ENOMEM;
    ptap_debug("hmp: -> %s", line);
    r = ptap_monsock_write_all(h->fd, msg, strlen(msg), deadline);
    if (r < 0)
        return r;
    r = read_to_prompt(h, deadline, &raw, &len);
    if (r < 0)
        return r;
    char *text = ptap_hmp_clean_reply(raw, len, 1);
    if (!text)
        return -ENOMEM;
    ptap_debug("hmp: <- %s", *text ? text : "(nothing)");
    if (reply)
        *reply = text;
    else
        free(text);
    return 0;
}

int ptap_hmp_peer(const ptap_hmp *h, uid_t *uid, gid_t *gid, pid_t *pid)
{
    return ptap_monsock_peer(h->fd, uid, gid, pid);
}
