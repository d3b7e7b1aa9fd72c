/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mark.h: the provenance mark ptap puts in a tap's ifalias, the one place
 * that knows its shape (shared by the privileged helper and libptap).
 *
 *   "ptap"                   a tap made by the helper without --tag
 *   "ptap:TAG"               made with --tag TAG (1..PTAP_TAG_MAX bytes of
 *                            [A-Za-z0-9._:-], see ptap_tag_check())
 *   "ptap:JOURNALID:OPID"    what libptap asks for: the TAG is the journal's
 *                            identity and the id of the operation that made
 *                            the tap, so recovery can tell its taps from
 *                            everyone else's and each operation's from the
 *                            others'.
 *
 * The helper acts only on taps that carry a mark; libptap acts only on
 * taps that carry its own journal's.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define PTAP_MARK_PREFIX "ptap"
/* The parts of a libptap mark: a journal's identity (hex characters)
 * and an operation id (with its NUL), as the journal hands them out. */
#define PTAP_JOURNAL_ID_LEN 16
#define PTAP_RECORD_ID_MAX 32
/* Room for any "ptap:JOURNALID:OPID" and its NUL. */
#define PTAP_MARK_MAX (sizeof(PTAP_MARK_PREFIX) + PTAP_JOURNAL_ID_LEN + PTAP_RECORD_ID_MAX + 1)

/**
 * ptap_mark_is_mark: true when @alias (an ifalias, may be NULL) is a ptap
 * mark: exactly "ptap", or "ptap:" followed by a valid tag.
 */
bool ptap_mark_is_mark(const char *alias);

/**
 * ptap_mark_format_tag: the mark for helper tag @tag into @buf (@len
 * bytes): "ptap" when @tag is NULL, else "ptap:TAG".
 * @why: when not NULL, set to a static reason on failure.
 * Returns 0, -EINVAL if @tag is not a valid tag, -ENOBUFS if @buf is too
 * small (PTAP_MARK_PREFIX + 1 + PTAP_TAG_MAX + 1 bytes always suffice).
 */
int ptap_mark_format_tag(const char *tag, char *buf, size_t len, const char **why);

/**
 * ptap_mark_tag: the helper tag of journal @journal and operation @op,
 * "JOURNAL:OP" ("JOURNAL" when @op is ""), into @buf (@len bytes).
 * Returns 0, -EINVAL if @journal (1..PTAP_JOURNAL_ID_LEN tag characters,
 * no ':') or @op (shorter than PTAP_RECORD_ID_MAX, tag characters) is
 * not a valid part, -ENOBUFS if @buf is too small.
 */
int ptap_mark_tag(const char *journal, const char *op, char *buf, size_t len);

/**
 * ptap_mark_format: the mark "ptap:JOURNAL:OP" ("ptap:JOURNAL" when @op
 * is "") into @buf (@len bytes; PTAP_MARK_MAX is always enough).
 * Returns as ptap_mark_tag().
 */
int ptap_mark_format(const char *journal, const char *op, char *buf, size_t len);

/**
 * ptap_mark_parse: split the mark @alias into its journal and operation
 * ids. Accepts any ptap mark ("ptap" or "ptap:TAG") and splits TAG at
 * its first ':'; @journal / @op are "" when absent.
 * Returns 0, -EINVAL if @alias is not a ptap mark, -ERANGE if it is one
 * whose parts do not fit @journal/@op (so no journal of this ptap made
 * it; both are then "").
 */
int ptap_mark_parse(const char *alias, char journal[PTAP_JOURNAL_ID_LEN + 1],
                    char op[PTAP_RECORD_ID_MAX]);
