/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mark.h"
#include "validate.h"

#define PREFIX_LEN (sizeof(PTAP_MARK_PREFIX) - 1)

bool ptap_mark_is_mark(const char *alias)
{
    if (!alias || strncmp(alias, PTAP_MARK_PREFIX, PREFIX_LEN) != 0)
        return false;
    if (alias[PREFIX_LEN] == '\0')
        return true;
    return alias[PREFIX_LEN] == ':' && ptap_tag_check(alias + PREFIX_LEN + 1, NULL) == 0;
}

int ptap_mark_format_tag(const char *tag, char *buf, size_t len, const char **why)
{
    int n;

    if (tag && ptap_tag_check(tag, why) < 0)
        return -EINVAL;
    n = tag ? snprintf(buf, len, "%s:%s", PTAP_MARK_PREFIX, tag)
            : snprintf(buf, len, "%s", PTAP_MARK_PREFIX);
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
        strchr(journal, ':') || (*op && !part_ok(op, PTAP_RECORD_ID_MAX - 1)))
        return -EINVAL;
    n = *op ? snprintf(buf, len, "%s:%s", journal, op) : snprintf(buf, len, "%s", journal);
    return n < 0 || (size_t) n >= len ? -ENOBUFS : 0;
}

int ptap_mark_format(const char *journal, const char *op, char *buf, size_t len)
{
    char tag[PTAP_JOURNAL_ID_LEN + 1 + PTAP_RECORD_ID_MAX];
    int r;

    r = ptap_mark_tag(journal, op, tag, sizeof(tag));
    if (r < 0)
        return r;
    return ptap_mark_format_tag(tag, buf, len, NULL);
}

int ptap_mark_parse(const char *alias, char journal[PTAP_JOURNAL_ID_LEN + 1],
                    char op[PTAP_RECORD_ID_MAX])
{
    const char *tag, *colon;
    size_t jl, ol;

    if (!ptap_mark_is_mark(alias))
        return -EINVAL;
    journal[0] = op[0] = '\0';
    if (alias[PREFIX_LEN] == '\0')
        return 0;
    tag = alias + PREFIX_LEN + 1;
    colon = strchr(tag, ':');
    jl = colon ? (size_t) (colon - tag) : strlen(tag);
    ol = colon ? strlen(colon + 1) : 0;
    if (jl > PTAP_JOURNAL_ID_LEN || ol >= PTAP_RECORD_ID_MAX)
        return -ERANGE;
    memcpy(journal, tag, jl);
    journal[jl] = '\0';
    if (colon)
        memcpy(op, colon + 1, ol + 1);
    return 0;
}
