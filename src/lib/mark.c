/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mark.h"
#include "validate.h"

#define PREFIX_LEN (sizeof(PTAP_MARK_PREFIX) - 1)

static bool parse_maker(const char *s, size_t n, uid_t *ret);

/* "ptap", "ptap:TAG", "ptap:uUID" or "ptap:uUID:TAG". */
bool ptap_mark_is_mark(const char *alias)
{
    const char *tag, *colon;
    uid_t maker;

    if (!alias || strncmp(alias, PTAP_MARK_PREFIX, PREFIX_LEN) != 0)
        return false;
    if (alias[PREFIX_LEN] == '\0')
        return true;
    if (alias[PREFIX_LEN] != ':')
        return false;
    tag = alias + PREFIX_LEN + 1;
    colon = strchr(tag, ':');
    if (parse_maker(tag, colon ? (size_t) (colon - tag) : strlen(tag), &maker)) {
        if (!colon)
            return true;
        tag = colon + 1;
    }
    return ptap_tag_check(tag, NULL) == 0;
}

static bool looks_like_maker(const char *s)
{
    return s[0] == 'u' && isdigit((unsigned char) s[1]);
}

int ptap_mark_tag_check(const char *tag, const char **why)
{
    if (ptap_tag_check(tag, why) < 0)
        return -EINVAL;
    if (looks_like_maker(tag)) {
        if (why)
            *why = "a tag may not begin with 'u' and a digit: the helper writes its caller's "
                   "uid there";
        return -EINVAL;
    }
    return 0;
}

int ptap_mark_format_tag(uid_t maker, const char *tag, char *buf, size_t len, const char **why)
{
    int n;

    if (tag && ptap_mark_tag_check(tag, why) < 0)
        return -EINVAL;
    n = tag ? snprintf(buf, len, "%s:u%u:%s", PTAP_MARK_PREFIX, (unsigned) maker, tag)
            : snprintf(buf, len, "%s:u%u", PTAP_MARK_PREFIX, (unsigned) maker);
    if (n < 0 || (size_t) n >= len) {
        if (why)
            *why = "the mark does not fit";
        return -ENOBUFS;
    }
    return 0;
}

static bool part_ok(const char *s, size_t max)
{
    return strlen(s) <= max && ptap_tag_check(s, NULL) == 0;
}

int ptap_mark_tag(const char *journal, const char *op, char *buf, size_t len)
{
    int n;

    if (!journal || !op || !buf || !part_ok(journal, PTAP_JOURNAL_ID_LEN) ||
        strchr(journal, ':') || looks_like_maker(journal) ||
        (*op && !part_ok(op, PTAP_RECORD_ID_MAX - 1)))
        return -EINVAL;
    n = *op ? snprintf(buf, len, "%s:%s", journal, op) : snprintf(buf, len, "%s", journal);
    return n < 0 || (size_t) n >= len ? -ENOBUFS : 0;
}

int ptap_mark_format(uid_t maker, const char *journal, const char *op, char *buf, size_t len)
{
    char tag[PTAP_JOURNAL_ID_LEN + 1 + PTAP_RECORD_ID_MAX];
    int r;

    r = ptap_mark_tag(journal, op, tag, sizeof(tag));
    if (r < 0)
        return r;
    return ptap_mark_format_tag(maker, tag, buf, len, NULL);
}

/* "uNNN" -> NNN; false unless it is exactly that, within uid_t. */
static bool parse_maker(const char *s, size_t n, uid_t *ret)
{
    unsigned long long v = 0;

    if (n < 2 || n > PTAP_MARK_UID_MAX - 1 || s[0] != 'u' || (s[1] == '0' && n > 2))
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!isdigit((unsigned char) s[i]))
            return false;
        v = v * 10 + (unsigned) (s[i] - '0');
    }
    if (v >= (uid_t) -1)
        return false;
    *ret = (uid_t) v;
    return true;
}

int ptap_mark_parse(const char *alias, ptap_mark *m)
{
    const char *tag, *colon;
    size_t jl, ol;

    if (!ptap_mark_is_mark(alias))
        return -EINVAL;
    *m = (ptap_mark) { .maker = (uid_t) -1 };
    if (alias[PREFIX_LEN] == '\0')
        return 0;
    tag = alias + PREFIX_LEN + 1;
    colon = strchr(tag, ':');
    if (parse_maker(tag, colon ? (size_t) (colon - tag) : strlen(tag), &m->maker)) {
        if (!colon)
            return 0;
        tag = colon + 1;
        colon = strchr(tag, ':');
    }
    jl = colon ? (size_t) (colon - tag) : strlen(tag);
    ol = colon ? strlen(colon + 1) : 0;
    if (jl > PTAP_JOURNAL_ID_LEN || ol >= PTAP_RECORD_ID_MAX) {
        *m = (ptap_mark) { .maker = (uid_t) -1 };
        return -ERANGE;
    }
    memcpy(m->journal, tag, jl);
    m->journal[jl] = '\0';
    if (colon)
        memcpy(m->op, colon + 1, ol + 1);
    return 0;
}

bool ptap_mark_is_ours(const ptap_mark *m, uid_t me, const char *jid)
{
    return m->maker != (uid_t) -1 && m->maker == me && jid && *jid &&
           strcmp(m->journal, jid) == 0;
}
