/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mark.h: the provenance mark ptap puts in a tap's ifalias, the one place
 * that knows its shape (shared by the privileged helper and libptap).
 *
 *   "ptap:uUID"                  made by the helper for caller UID, no --tag
 *   "ptap:uUID:TAG"              made with --tag TAG (1..PTAP_TAG_MAX bytes of
 *                                [A-Za-z0-9._:-], see ptap_tag_check())
 *   "ptap:uUID:JOURNALID:OPID"   what libptap asks for: the TAG is the
 *                                journal's identity and the id of the
 *                                operation that made the tap.
 *
 * UID is the real uid of the helper's caller, written by the helper itself
 * (a tag can never supply it): journal ids are readable by everyone in
 * every tap's ifalias, so the maker is what tells a user's own tap from a
 * copy another user made with the same tag. libptap takes a tap as its own
 * only when its mark names its journal AND its user (ptap_mark_is_ours()).
 *
 * Marks of ptap 0.1 ("ptap", "ptap:TAG") are still marks (the helper
 * destroys such taps by name for their owner), but name no maker: no
 * journal takes them as its own.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PTAP_MARK_PREFIX "ptap"
/* The parts of a libptap mark: a journal's identity (hex characters)
 * and an operation id (with its NUL), as the journal hands them out. */
#define PTAP_JOURNAL_ID_LEN 16
#define PTAP_RECORD_ID_MAX 32
#define PTAP_MARK_UID_MAX (sizeof(":u4294967295") - 1)
/* Room for any "ptap:uUID:JOURNALID:OPID" and its NUL. */
#define PTAP_MARK_MAX                                                                  \
    (sizeof(PTAP_MARK_PREFIX) + PTAP_MARK_UID_MAX + 1 + PTAP_JOURNAL_ID_LEN + PTAP_RECORD_ID_MAX)
/* Room for the helper's "ptap:uUID:TAG" with the longest tag. */
#define PTAP_MARK_TAG_MAX (sizeof(PTAP_MARK_PREFIX) + PTAP_MARK_UID_MAX + 1 + 64)

/* A mark, split. */
typedef struct ptap_mark {
    uid_t maker;                           /* (uid_t) -1: a 0.1 mark, maker unknown */
    char journal[PTAP_JOURNAL_ID_LEN + 1]; /* "" when absent */
    char op[PTAP_RECORD_ID_MAX];           /* "" when absent */
} ptap_mark;

/**
 * ptap_mark_is_mark: true when @alias (an ifalias, may be NULL) is a ptap
 * mark: "ptap", or "ptap:" followed by a valid tag (which covers
 * "ptap:uUID[:TAG]").
 */
bool ptap_mark_is_mark(const char *alias);

/**
 * ptap_mark_tag_check: may the helper's caller give --tag @tag? A valid
 * tag (ptap_tag_check()) that does not begin like a maker ("u" and a
 * digit), so that no tag reads as if it named a user.
 * @why: when not NULL, set to a static reason on failure.
 * Returns 0 or -EINVAL.
 */
int ptap_mark_tag_check(const char *tag, const char **why);

/**
 * ptap_mark_format_tag: the mark the helper writes for caller @maker and
 * tag @tag into @buf (@len bytes): "ptap:uMAKER", or "ptap:uMAKER:TAG".
 * @why: when not NULL, set to a static reason on failure.
 * Returns 0, -EINVAL if @tag fails ptap_mark_tag_check(), -ENOBUFS if @buf
 * is too small (PTAP_MARK_TAG_MAX bytes always suffice).
 */
int ptap_mark_format_tag(uid_t maker, const char *tag, char *buf, size_t len, const char **why);

/**
 * ptap_mark_tag: the helper tag of journal @journal and operation @op,
 * "JOURNAL:OP" ("JOURNAL" when @op is ""), into @buf (@len bytes).
 * Returns 0, -EINVAL if @journal (1..PTAP_JOURNAL_ID_LEN tag characters,
 * no ':', not beginning like a maker) or @op (shorter than
 * PTAP_RECORD_ID_MAX, tag characters) is not a valid part, -ENOBUFS if
 * @buf is too small.
 */
int ptap_mark_tag(const char *journal, const char *op, char *buf, size_t len);

/**
 * ptap_mark_format: the mark "ptap:uMAKER:JOURNAL:OP" ("...:JOURNAL" when
 * @op is "") into @buf (@len bytes; PTAP_MARK_MAX is always enough), as
 * the helper makes it for ptap_mark_tag(). Returns as ptap_mark_tag().
 */
int ptap_mark_format(uid_t maker, const char *journal, const char *op, char *buf, size_t len);

/**
 * ptap_mark_parse: split the mark @alias into @m: its maker, journal and
 * operation ids. Accepts any ptap mark; a 0.1 mark has maker (uid_t) -1,
 * its TAG split at the first ':' as before.
 * Returns 0, -EINVAL if @alias is not a ptap mark, -ERANGE if it is one
 * whose parts do not fit (so no journal of this ptap made it; @m is then
 * cleared, maker (uid_t) -1).
 */
int ptap_mark_parse(const char *alias, ptap_mark *m);

/**
 * ptap_mark_is_ours: does @m say that user @me made it for journal @jid?
 * (A 0.1 mark never does.)
 */
bool ptap_mark_is_ours(const ptap_mark *m, uid_t me, const char *jid);
