/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the journal parser: replay arbitrary bytes as a
 * journal image, walk the live state, and check that what replay accepted
 * survives validation of its own fields; that one flipped bit anywhere in
 * the complete part of an accepted version 2 journal is always refused
 * (the checksums); also the mark parser.
 * Seeds: tests/fuzz/corpus/fuzz_journal/ (real journals written by ptap).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

/* The build instruments only this file for coverage (-fsanitize=fuzzer),
 * not libptap: compile the parser into the target itself so libFuzzer
 * sees its branches. (journal.o in libptap.a is then never pulled in.) */
#include "../../src/lib/journal.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* @data is an accepted version 2 journal: flip one bit of its complete
 * part (which one: chosen by the input's own checksum, so that every
 * offset gets its turn across inputs); replay must refuse the result.
 * Every line is sealed by a CRC-32C (all single-bit errors detected), a
 * bit that makes or breaks a newline leaves a line without its seal, and
 * a whole record in the torn tail is damage too. */
static void flip_one_bit(const uint8_t *data, size_t size)
{
    ptap_journal *j = NULL;
    size_t complete = 0;
    uint32_t h;
    char *copy;

    if (image_split((const char *) data, size, "(fuzz)", &complete, NULL) < 0 || complete == 0)
        abort(); /* it was accepted */
    copy = malloc(size);
    if (!copy)
        return;
    memcpy(copy, data, size);
    h = crc32c_update(0, data, size);
    copy[h % complete] ^= (char) (1u << ((h >> 28) & 7));
    if (ptap_journal_load_buffer(copy, size, &j, NULL) == 0)
        abort(); /* a flipped bit went unnoticed */
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ptap_journal *j = NULL;
    ptap_error err = { 0 };
    char *alias;
    int rc;

    rc = ptap_journal_load_buffer((const char *) data, size, &j, &err);
    /* A refusal with a message carries the code that was returned. */
    if (rc < 0 && err.code != 0 && err.code != rc)
        abort();
    if (rc == 0) {
        size_t n = ptap_journal_count(j);

        for (size_t i = 0; i < n; i++) {
            const ptap_record *r = ptap_journal_get(j, i);

            if (!r || r->state == PTAP_STATE_DESTROYED || !ptap_state_to_string(r->state))
                abort();
            /* Every live record is findable by its key. */
            if (!ptap_journal_find(j, r->name) && !ptap_journal_find_batch(j, r->batch) &&
                !ptap_journal_find_batch(j, r->id))
                abort();
        }
        if (ptap_journal_get(j, n) != NULL || strlen(ptap_journal_id(j)) != PTAP_JOURNAL_ID_LEN)
            abort();
        if (ptap_journal_version(j) >= 2)
            flip_one_bit(data, size);
        ptap_journal_close(j);
    }

    /* The same bytes as an interface alias. */
    alias = malloc(size + 1);
    if (!alias)
        return 0;
    memcpy(alias, data, size);
    alias[size] = '\0';
    ptap_mark m;
    if (ptap_mark_parse(alias, &m) == 0 &&
        (strlen(m.journal) > PTAP_JOURNAL_ID_LEN || strlen(m.op) >= PTAP_RECORD_ID_MAX))
        abort();
    free(alias);
    return 0;
}
