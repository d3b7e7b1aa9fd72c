/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the journal (src/lib/journal.c): round trips of every field,
 * golden -in/-out files (replay + compaction, damaged and older inputs),
 * truncation at every byte offset, the RelaxNG schema, refusal of
 * symlinks and foreign owners, concurrent writers, locking, compaction
 * and its crash safety (fault points in fault-injection builds).
 *
 * PTAP_SOURCE_DIR and PTAP_TESTDATA come from ctest; PTAP_REGENERATE=1
 * rewrites the golden -out files from the code (review the diff!).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "util.h"

#ifndef PTAP_SRCDIR_FALLBACK
#define PTAP_SRCDIR_FALLBACK "."
#endif

/* ------------------------------------------------------------------ */
/* Helpers */

static char schema_path[4096];
static char data_dir[4096];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static void rm_rf(const char *path)
{
    (void) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh private directory; the journal goes in DIR/state. */
typedef struct fixture {
    char root[64];
    char dir[128];
    char file[160];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->root, sizeof(f->root), "/tmp/ptap-test-journal.XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/state", f->root);
    snprintf(f->file, sizeof(f->file), "%s/journal.xml", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    rm_rf(f->root);
    free(f);
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    char *buf = NULL;

    return ptap_read_file(path, 0, &buf, len) < 0 ? NULL : buf;
}

static void write_file(const char *path, const char *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t) len);
    close(fd);
}

static ptap_record tap(const char *name, ptap_state st)
{
    ptap_record r = { 0 };

    snprintf(r.name, sizeof(r.name), "%s", name);
    r.state = st;
    r.owner = 1000;
    r.group = (gid_t) -1;
    return r;
}

static ptap_journal *open_ok(const fixture *f, unsigned flags)
{
    ptap_journal *j = NULL;
    ptap_error err = { 0 };
    int r = ptap_journal_open(f->dir, flags, &j, &err);

    if (r < 0)
        print_error("open: %s (%s)\n", strerror(-r), err.msg);
    assert_int_equal(r, 0);
    assert_non_null(j);
    return j;
}

static void append_ok(ptap_journal *j, ptap_record *recs, size_t n)
{
    ptap_error err = { 0 };
    int r = ptap_journal_append(j, recs, n, &err);

    if (r < 0)
        print_error("append: %s (%s)\n", strerror(-r), err.msg);
    assert_int_equal(r, 0);
}

static void assert_valid(const char *path)
{
    ptap_error err = { 0 };
    int r = ptap_journal_validate_file(path, schema_path, NULL, &err);

    if (r < 0)
        print_error("validate '%s': %s\n", path, err.msg);
    assert_int_equal(r, 0);
}

static void assert_consumer_equal(const ptap_consumer *a, const ptap_consumer *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_string_equal(a->target, b->target);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->uri, b->uri);
    assert_string_equal(a->method, b->method);
    assert_int_equal(a->pid, b->pid);
    assert_int_equal(a->pid_start, b->pid_start);
    assert_string_equal(a->netdev_id, b->netdev_id);
    assert_string_equal(a->device_id, b->device_id);
    assert_string_equal(a->model, b->model);
    assert_string_equal(a->mac, b->mac);
    assert_string_equal(a->pci_addr, b->pci_addr);
    assert_int_equal(a->vlan, b->vlan);
    assert_int_equal(a->queues, b->queues);
}

static void assert_record_equal(const ptap_record *a, const ptap_record *b)
{
    assert_int_equal(a->seq, b->seq);
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->batch, b->batch);
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->ifindex, b->ifindex);
    assert_int_equal(a->owner, b->owner);
    assert_int_equal(a->group, b->group);
    assert_string_equal(a->bridge, b->bridge);
    assert_string_equal(a->mac, b->mac);
    assert_int_equal(a->mtu, b->mtu);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->created, b->created);
    assert_int_equal(a->updated, b->updated);
    assert_consumer_equal(&a->consumer, &b->consumer);
}

/* ------------------------------------------------------------------ */
/* Round trip of every field */

static const char awkward[] = "d\"om <x> & 'it' \xf0\x9f\x9a\x80 \xc3\xbc" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9 ]]> &amp;";

static ptap_record full_record(int variant)
{
    ptap_record r = tap("ptap0", PTAP_STATE_ATTACHED);
    ptap_consumer *c = &r.consumer;

    snprintf(r.id, sizeof(r.id), "op-%d.x:y", variant);
    snprintf(r.name, sizeof(r.name), "t%d-\"<&>'", variant);
    snprintf(r.batch, sizeof(r.batch), "batch.%d", variant);
    r.ifindex = 12345 + variant;
    r.owner = variant == 1 ? 0 : 4294967294u;
    r.group = variant == 1 ? (gid_t) -1 : 64055;
    snprintf(r.bridge, sizeof(r.bridge), "br-%d", variant);
    snprintf(r.mac, sizeof(r.mac), "52:54:00:ab:cd:%02x", variant);
    r.mtu = variant == 1 ? 68 : 65521;
    r.flags = PTAP_TAP__ALL;
    c->kind = (ptap_consumer_kind) (1 + variant % (PTAP_CONSUMER__MAX - 1));
    snprintf(c->target, sizeof(c->target), "/run/vm %d/qmp&<>\"'.sock", variant);
    snprintf(c->name, sizeof(c->name), "%s", awkward);
    snprintf(c->uri, sizeof(c->uri), "qemu+ssh://u@h/system?a=1&b=<2>");
    snprintf(c->method, sizeof(c->method), "monitor");
    c->pid = 2147483647;
    c->pid_start = UINT64_MAX;
    snprintf(c->netdev_id, sizeof(c->netdev_id), "net%d.a-b_c", variant);
    snprintf(c->device_id, sizeof(c->device_id), "dev%d", variant);
    snprintf(c->model, sizeof(c->model), "virtio-net-pci");
    snprintf(c->mac, sizeof(c->mac), "52:54:00:00:00:%02x", variant);
    snprintf(c->pci_addr, sizeof(c->pci_addr), "0:%d", variant);
    c->vlan = 4294967295u;
    c->queues = 8;
    return r;
}

static void test_roundtrip(void **state)
{
    fixture *f = *state;
    ptap_record recs[6];
    size_t n = ARRAY_SIZE(recs);
    ptap_journal *j = open_ok(f, PTAP_JOURNAL_CREATE);
    _cleanup_free_ char *buf = NULL;
    size_t len;

    for (size_t i = 0; i < n; i++)
        recs[i] = full_record((int) i + 1);
    /* A minimal one: every optional field empty. */
    recs[n - 1] = tap("min", PTAP_STATE_READY);
    append_ok(j, recs, 2);
    append_ok(j, recs + 2, n - 2);
    for (size_t i = 0; i < n; i++)
        assert_record_equal(ptap_journal_find(j, recs[i].name), &recs[i]);
    ptap_journal_close(j);

    /* From the file, and from memory. */
    j = open_ok(f, PTAP_JOURNAL_READONLY);
    assert_int_equal(ptap_journal_count(j), n);
    for (size_t i = 0; i < n; i++)
        assert_record_equal(ptap_journal_get(j, i), &recs[i]);
    ptap_journal_close(j);
    buf = read_file(f->file, &len);
    assert_non_null(buf);
    assert_int_equal(ptap_journal_load_buffer(buf, len, &j, NULL), 0);
    for (size_t i = 0; i < n; i++)
        assert_record_equal(ptap_journal_get(j, i), &recs[i]);
    ptap_journal_close(j);
    assert_valid(f->file);

    /* Through a compaction (seq renumbered in creation order). */
    j = open_ok(f, 0);
    assert_int_equal(ptap_journal_compact(j, NULL), 0);
    ptap_journal_close(j);
    j = open_ok(f, PTAP_JOURNAL_READONLY);
    for (size_t i = 0; i < n; i++) {
        recs[i].seq = i + 1;
        assert_record_equal(ptap_journal_get(j, i), &recs[i]);
    }
    ptap_journal_close(j);
    assert_valid(f->file);
}

/* ------------------------------------------------------------------ */
/* Records the journal must refuse, and leave no trace of */

typedef struct bad_case {
    const char *what;
    void (*mutate)(ptap_record *r);
} bad_case;

static void m_name_long(ptap_record *r) { memset(r->name, 'a', sizeof(r->name)); }
static void m_name_slash(ptap_record *r) { strcpy(r->name, "a/b"); }
static void m_name_empty(ptap_record *r) { r->name[0] = 0; }
static void m_tmpl_no_batch(ptap_record *r) { strcpy(r->name, "ptap%d"); }
static void m_count_no_batch(ptap_record *r) { r->count = 2; }
static void m_mac(ptap_record *r) { strcpy(r->mac, "01:00:5e:00:00:01"); }
static void m_mac_junk(ptap_record *r) { strcpy(r->mac, "zz"); }
static void m_mtu(ptap_record *r) { r->mtu = 10; }
static void m_flags(ptap_record *r) { r->flags = 1u << 20; }
static void m_state(ptap_record *r) { r->state = PTAP_STATE__MAX; }
static void m_kind(ptap_record *r) { r->consumer.kind = PTAP_CONSUMER__MAX; }
static void m_ctrl(ptap_record *r)
{
    r->consumer.kind = PTAP_CONSUMER_QMP;
    strcpy(r->consumer.name, "a\nb");
}
static void m_utf8(ptap_record *r)
{
    r->consumer.kind = PTAP_CONSUMER_QMP;
    strcpy(r->consumer.target, "\xc3\x28");
}
static void m_overlong(ptap_record *r)
{
    r->consumer.kind = PTAP_CONSUMER_QMP;
    strcpy(r->consumer.target, "\xc0\xaf");
}
static void m_netdev(ptap_record *r)
{
    r->consumer.kind = PTAP_CONSUMER_QMP;
    strcpy(r->consumer.netdev_id, "n,script=/bin/sh");
}
static void m_id(ptap_record *r) { strcpy(r->id, "op 1"); }
static void m_bridge(ptap_record *r) { strcpy(r->bridge, "br%d"); }
static void m_unterminated(ptap_record *r) { memset(r->consumer.model, 'x', sizeof(r->consumer.model)); r->consumer.kind = PTAP_CONSUMER_QMP; }
static void m_ifindex(ptap_record *r) { r->ifindex = -3; }

static const bad_case bad_cases[] = {
    { "name too long", m_name_long },   { "name with /", m_name_slash },
    { "empty name", m_name_empty },     { "template without batch", m_tmpl_no_batch },
    { "count without batch", m_count_no_batch }, { "multicast MAC", m_mac },
    { "junk MAC", m_mac_junk },         { "MTU 10", m_mtu },
    { "unknown flag", m_flags },        { "unknown state", m_state },
    { "unknown kind", m_kind },         { "newline in text", m_ctrl },
    { "invalid UTF-8", m_utf8 },        { "overlong UTF-8", m_overlong },
    { "netdev id injection", m_netdev }, { "space in op id", m_id },
    { "template bridge", m_bridge },    { "unterminated string", m_unterminated },
    { "negative ifindex", m_ifindex },
};

static void test_append_refuses(void **state)
{
    fixture *f = *state;
    ptap_journal *j = open_ok(f, PTAP_JOURNAL_CREATE);
    ptap_record good = tap("good0", PTAP_STATE_READY);
    struct stat before, after;

    append_ok(j, &good, 1);
    assert_int_equal(stat(f->file, &before), 0);
    for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        ptap_record recs[2] = { tap("ok1", PTAP_STATE_READY), tap("bad", PTAP_STATE_READY) };

        bad_cases[i].mutate(&recs[1]);
        ptap_error err = { 0 };
        int r = ptap_journal_append(j, recs, 2, &err);
        if (r != -EINVAL)
            print_error("case '%s': %d\n", bad_cases[i].what, r);
        assert_int_equal(r, -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        assert_true(strlen(err.msg) > 0);
    }
    assert_int_equal(stat(f->file, &after), 0);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(ptap_journal_count(j), 1);
    ptap_journal_close(j);

    /* A read-only journal takes no records. */
    j = open_ok(f, PTAP_JOURNAL_READONLY);
    assert_int_equal(ptap_journal_append(j, &good, 1, NULL), -EBADF);
    assert_int_equal(ptap_journal_compact(j, NULL), -EBADF);
    ptap_journal_close(j);
}

/* ------------------------------------------------------------------ */
/* The fold: keys, batches, created, ids */

static void test_fold(void **state)
{
    fixture *f = *state;
    ptap_journal *j = open_ok(f, PTAP_JOURNAL_CREATE);
    ptap_record intent = tap("mytap", PTAP_STATE_CREATING), out[2];
    const ptap_record *r;
    char id1[PTAP_RECORD_ID_MAX], id2[PTAP_RECORD_ID_MAX];

    /* A create as pool.c does it: a batch intent keyed by its op id. */
    ptap_journal_new_id(j, intent.id);
    strcpy(intent.batch, intent.id);
    intent.count = 1;
    intent.created = 5; /* ignored: a new key gets "now" */
    append_ok(j, &intent, 1);
    assert_true(intent.created > 1000000000);
    r = ptap_journal_find(j, "mytap");
    assert_non_null(r);
    assert_int_equal(r->state, PTAP_STATE_CREATING);
    assert_ptr_equal(ptap_journal_find_batch(j, intent.id), r);

    out[0] = intent;
    out[0].count = 0;
    ptap_journal_new_id(j, out[0].id);
    out[0].state = PTAP_STATE_READY;
    out[1] = intent;
    out[1].state = PTAP_STATE_DESTROYED;
    append_ok(j, out, 2);
    assert_int_equal(ptap_journal_count(j), 1);
    r = ptap_journal_find(j, "mytap");
    assert_non_null(r);
    assert_int_equal(r->state, PTAP_STATE_READY);
    assert_null(ptap_journal_find_batch(j, intent.id));
    assert_null(ptap_journal_find(j, "%op1"));
    assert_true(out[0].seq < out[1].seq);

    /* Templates: several live batches may share one. */
    ptap_record t1 = tap("ptap%d", PTAP_STATE_CREATING), t2;
    ptap_journal_new_id(j, t1.id);
    t1.count = 4;
    t2 = t1;
    ptap_journal_new_id(j, t2.id);
    append_ok(j, &t1, 1);
    append_ok(j, &t2, 1);
    assert_int_equal(ptap_journal_count(j), 3);
    assert_string_equal(ptap_journal_find(j, "ptap%d")->id, t1.id);
    assert_string_equal(ptap_journal_find_batch(j, t2.id)->id, t2.id);
    t1.state = PTAP_STATE_DESTROYED;
    append_ok(j, &t1, 1);
    assert_string_equal(ptap_journal_find(j, "ptap%d")->id, t2.id);

    /* Ids are never handed out twice, across compaction and reopen. */
    ptap_journal_new_id(j, id1);
    assert_int_equal(ptap_journal_compact(j, NULL), 0);
    ptap_journal_close(j);
    j = open_ok(f, 0);
    ptap_journal_new_id(j, id2);
    assert_string_not_equal(id1, id2);
    assert_true(strtoull(id2 + 2, NULL, 10) > strtoull(id1 + 2, NULL, 10));

    /* Updates keep created; a key closed and reopened in one call
     * starts afresh. */
    ptap_record u = *ptap_journal_find(j, "mytap"), v[2];
    time_t created = u.created;
    u.state = PTAP_STATE_DESTROYING;
    append_ok(j, &u, 1);
    assert_int_equal(u.created, created);
    v[0] = u;
    v[0].state = PTAP_STATE_DESTROYED;
    v[1] = u;
    v[1].state = PTAP_STATE_READY;
    v[1].created = 0;
    append_ok(j, v, 2);
    assert_int_equal(ptap_journal_find(j, "mytap")->state, PTAP_STATE_READY);

    /* Order is creation order, stable across closes in the middle. */
    ptap_record many[200];
    for (int i = 0; i < 200; i++) {
        char name[16];
        snprintf(name, sizeof(name), "m%d", i);
        many[i] = tap(name, PTAP_STATE_READY);
    }
    append_ok(j, many, 200);
    for (int i = 0; i < 200; i += 2)
        many[i].state = PTAP_STATE_DESTROYED;
    append_ok(j, many, 200);
    size_t n = ptap_journal_count(j);
    assert_int_equal(n, 1 + 1 + 100);
    for (int i = 1, k = 2; i < 200; i += 2, k++)
        assert_string_equal(ptap_journal_get(j, (size_t) k)->name, many[i].name);
    assert_null(ptap_journal_get(j, n));
    ptap_journal_close(j);
    assert_valid(f->file);
}

/* ------------------------------------------------------------------ */
/* Golden files */

typedef struct golden {
    const char *name;
    int rc;
    const char *msg; /* substring of the message in the ptap_error */
} golden;

static const golden goldens[] = {
    { "basic", 0, NULL },
    { "awkward", 0, NULL },
    { "batch", 0, NULL },
    { "torn-tail", 0, NULL },
    { "torn-no-newline", 0, NULL },
    { "all-destroyed", 0, NULL },
    { "compacted", 0, NULL },
    { "garbage-middle", -EBADMSG, "line 4" },
    { "unclosed-middle", -EBADMSG, "line 5" },
    { "bad-state", -EBADMSG, "line 4: damaged record: unknown state ('state')" },
    { "bad-mac", -EBADMSG, "line 4" },
    { "bad-time", -EBADMSG, "line 4" },
    { "unknown-attr", -EBADMSG, "unknown attribute ('colour')" },
    { "seq-disorder", -EBADMSG, "seq 2 does not follow 2" },
    { "control-char", -EBADMSG, "line 4" },
    { "version-3", -EPROTONOSUPPORT, "format version '3'" },
    /* Version 2: every line sealed with its CRC-32C (made by seal.py). */
    { "v2-log", 0, NULL },
    { "v2-torn-tail", 0, NULL },
    { "next-seq-lowered", 0, NULL }, /* the out's next-seq is past op6 */
    { "crc-mismatch", -EBADMSG, "line 4: damaged record: checksum mismatch" },
    { "crc-missing", -EBADMSG, "line 3: damaged record: no checksum" },
    { "crc-header", -EBADMSG, "line 1: damaged header: checksum mismatch" },
    { "newline-flipped", -EBADMSG, "line 10: damaged record: it is whole, but ends in byte 0x0b" },
    { "v2-unsealed", -EBADMSG, "damaged header: version 2 without its checksum" },
    { "v1-sealed", -EBADMSG, "damaged header: version 1 with a checksum" },
    { "seq-max", -EBADMSG, "line 10: damaged record: seq 9223372036854775808 is past the last one" },
    { "version-0", -EPROTONOSUPPORT, "format version '0'" },
    { "no-id", -EBADMSG, "no journal id" },
    { "empty", -EBADMSG, "empty" },
    { "torn-header", -EBADMSG, "no complete header" },
    { "doctype", -EBADMSG, "not a ptap journal" },
    { "not-ptap", -EBADMSG, "not a ptap journal" },
};

static void golden_one(const fixture *f, const golden *g)
{
    char in[4200], outp[4200];
    _cleanup_free_ char *inbuf = NULL, *want = NULL, *got = NULL;
    size_t inlen, gotlen;
    ptap_journal *j = NULL;
    ptap_error err = { 0 };
    int r;

    snprintf(in, sizeof(in), "%s/journal/%s-in.xml", data_dir, g->name);
    snprintf(outp, sizeof(outp), "%s/journal/%s-out.xml", data_dir, g->name);
    inbuf = read_file(in, &inlen);
    if (!inbuf)
        fail_msg("cannot read %s", in);

    /* From memory. */
    r = ptap_journal_load_buffer(inbuf, inlen, &j, &err);
    if (r != g->rc)
        fail_msg("%s: load_buffer %d, want %d (%s)", g->name, r, g->rc, err.msg);
    ptap_journal_close(j);
    j = NULL;

    /* From a state directory: replay, then compact. */
    rm_rf(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    write_file(f->file, inbuf, inlen);
    err = (ptap_error) { 0 };
    r = ptap_journal_open(f->dir, 0, &j, &err);
    if (r != g->rc)
        fail_msg("%s: open %d, want %d (%s)", g->name, r, g->rc, err.msg);
    if (r < 0) {
        if (!strstr(err.msg, g->msg))
            fail_msg("%s: message '%s' lacks '%s'", g->name, err.msg, g->msg);
        /* A refused journal is left exactly as it was. */
        got = read_file(f->file, &gotlen);
        assert_int_equal(gotlen, inlen);
        assert_memory_equal(got, inbuf, inlen);
        /* ... and `ptap journal check` agrees. */
        err = (ptap_error) { 0 };
        assert_int_equal(ptap_journal_validate_file(f->file, schema_path, NULL, &err), g->rc);
        assert_non_null(strstr(err.msg, g->msg));
        return;
    }
    assert_int_equal(ptap_journal_compact(j, NULL), 0);
    ptap_journal_close(j);
    got = read_file(f->file, &gotlen);
    assert_non_null(got);
    if (getenv("PTAP_REGENERATE")) {
        write_file(outp, got, gotlen);
        return;
    }
    want = read_file(outp, NULL);
    if (!want)
        fail_msg("cannot read %s", outp);
    if (strcmp(want, got) != 0)
        fail_msg("%s: compacted journal differs from %s:\n%s", g->name, outp, got);
    assert_valid(f->file);
    assert_valid(outp);
    /* Compacting the output again changes nothing. */
    j = open_ok(f, 0);
    assert_int_equal(ptap_journal_compact(j, NULL), 0);
    ptap_journal_close(j);
    free(got);
    got = read_file(f->file, NULL);
    assert_string_equal(got, want);
}

static void test_golden(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(goldens); i++)
        golden_one(*state, &goldens[i]);
}

/* ------------------------------------------------------------------ */
/* Truncation at every byte offset */

static void test_truncate_every_offset(void **state)
{
    fixture *f = *state;
    ptap_record recs[7];
    size_t ends[16], n_ends = 0, len;
    _cleanup_free_ char *buf = NULL;
    ptap_journal *j = open_ok(f, PTAP_JOURNAL_CREATE);

    for (size_t i = 0; i < ARRAY_SIZE(recs); i++) {
        recs[i] = full_record((int) i);
        snprintf(recs[i].name, sizeof(recs[i].name), "t%zu", i);
        recs[i].state = (ptap_state) (i % PTAP_STATE_DESTROYED);
        if (i % 3 == 0)
            recs[i].consumer = (ptap_consumer) { 0 };
    }
    append_ok(j, recs, 3);
    append_ok(j, recs + 3, 1);
    append_ok(j, recs + 4, 3);
    ptap_journal_close(j);
    buf = read_file(f->file, &len);
    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n')
            ends[n_ends++] = i + 1;
    assert_int_equal(n_ends, 1 + ARRAY_SIZE(recs));

    for (size_t off = 0; off <= len; off++) {
        size_t complete = 0, want = 0;

        for (size_t k = 0; k < n_ends; k++)
            if (ends[k] <= off)
                complete = k + 1;
        want = complete ? complete - 1 : 0;

        /* Replay from memory and from the file (read-only: untouched). */
        j = NULL;
        int r = ptap_journal_load_buffer(buf, off, &j, NULL);
        if (!complete) {
            assert_int_equal(r, -EBADMSG);
            assert_null(j);
        } else {
            assert_int_equal(r, 0);
            assert_int_equal(ptap_journal_count(j), want);
            for (size_t k = 0; k < want; k++)
                assert_record_equal(ptap_journal_get(j, k), &recs[k]);
            ptap_journal_close(j);
        }
        write_file(f->file, buf, off);
        j = NULL;
        r = ptap_journal_open(f->dir, PTAP_JOURNAL_READONLY, &j, NULL);
        assert_int_equal(r, complete ? 0 : -EBADMSG);
        if (j) {
            assert_int_equal(ptap_journal_count(j), want);
            ptap_journal_close(j);
        }
        if (!complete)
            continue;

        /* A writer cuts the torn tail, appends, and the result is whole. */
        j = open_ok(f, 0);
        struct stat st;
        assert_int_equal(stat(f->file, &st), 0);
        assert_int_equal((size_t) st.st_size, ends[complete - 1]);
        ptap_record extra = tap("extra", PTAP_STATE_READY);
        append_ok(j, &extra, 1);
        ptap_journal_close(j);
        j = open_ok(f, PTAP_JOURNAL_READONLY);
        assert_int_equal(ptap_journal_count(j), want + 1);
        assert_string_equal(ptap_journal_get(j, want)->name, "extra");
        ptap_journal_close(j);
        if (off % 97 == 0)
            assert_valid(f->file);
    }
}

/* ------------------------------------------------------------------ */
/* Schema validation of real journals, and of broken ones */

static void test_schema(void **state)
{
    fixture *f = *state;
    ptap_journal *j = open_ok(f, PTAP_JOURNAL_CREATE);
    ptap_record recs[4] = { full_record(1), full_record(2), tap("plain", PTAP_STATE_READY),
                            tap("p%d", PTAP_STATE_CREATING) };
    ptap_error err = { 0 };
    char bad[256];
    _cleanup_free_ char *buf = NULL;
    size_t len, torn = 0;

    ptap_journal_new_id(j, recs[3].id);
    recs[3].count = 3;
    append_ok(j, recs, 4);
    assert_valid(f->file);
    recs[0].state = PTAP_STATE_DESTROYED;
    append_ok(j, recs, 1);
    assert_int_equal(ptap_journal_compact(j, NULL), 0);
    append_ok(j, recs + 2, 1);
    ptap_journal_close(j);
    assert_valid(f->file);

    /* The schema alone catches what it can. */
    buf = read_file(f->file, &len);
    snprintf(bad, sizeof(bad), "%s/bad.xml", f->root);
    {
        _cleanup_free_ char *b = malloc(len + 200);
        char *p;
        memcpy(b, buf, len + 1);
        p = strstr(b, "state=\"ready\"");
        assert_non_null(p);
        memcpy(p, "state=\"rEady\"", 13);
        write_file(bad, b, len);
    }
    assert_int_equal(ptap_journal_validate_file(bad, schema_path, NULL, &err), -EBADMSG);
    assert_true(strlen(err.msg) > 0);

    /* A torn tail is valid; its bytes are counted. */
    {
        _cleanup_free_ char *b = malloc(len + 32);
        memcpy(b, buf, len);
        memcpy(b + len, "<tap seq=\"99\" na", 16);
        write_file(bad, b, len + 16);
    }
    err = (ptap_error) { 0 };
    assert_int_equal(ptap_journal_validate_file(bad, schema_path, &torn, &err), 0);
    assert_int_equal(torn, 16);
    assert_int_equal(err.code, 0);
    assert_int_equal(ptap_journal_validate_file(bad, "/nonexistent.rng", NULL, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent.rng"));
    err = (ptap_error) { 0 };
    assert_int_equal(ptap_journal_validate_file("/nonexistent.xml", NULL, &torn, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent.xml"));
}

/* ------------------------------------------------------------------ */
/* Refusals: symlinks, foreign owners, loose modes, missing journals */

static void test_refusals(void **state)
{
    fixture *f = *state;
    ptap_journal *j = NULL;
    ptap_error err = { 0 };
    char link[256], other[256];

    /* Missing: READONLY never creates. */
    assert_int_equal(ptap_journal_open(f->dir, PTAP_JOURNAL_READONLY, &j, NULL), -ENOENT);
    assert_int_equal(
        ptap_journal_open(f->dir, PTAP_JOURNAL_READONLY | PTAP_JOURNAL_CREATE, &j, NULL), -ENOENT);
    j = open_ok(f, PTAP_JOURNAL_CREATE);
    ptap_journal_close(j);
    struct stat st;
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(stat(f->file, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* A symlinked state directory. */
    snprintf(link, sizeof(link), "%s/link", f->root);
    assert_int_equal(symlink(f->dir, link), 0);
    assert_int_equal(ptap_journal_open(link, 0, &j, &err), -EPERM);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_int_equal(ptap_journal_open(link, PTAP_JOURNAL_READONLY | PTAP_JOURNAL_CREATE, &j, NULL),
                     -EPERM);

    /* A symlinked journal. */
    snprintf(other, sizeof(other), "%s/other.xml", f->root);
    assert_int_equal(rename(f->file, other), 0);
    assert_int_equal(symlink(other, f->file), 0);
    assert_int_equal(ptap_journal_open(f->dir, 0, &j, NULL), -EPERM);
    assert_int_equal(ptap_journal_open(f->dir, PTAP_JOURNAL_READONLY, &j, NULL), -EPERM);
    assert_int_equal(ptap_journal_open(f->dir, PTAP_JOURNAL_CREATE, &j, NULL), -EPERM);
    assert_int_equal(unlink(f->file), 0);
    assert_int_equal(rename(other, f->file), 0);

    /* A symlinked lock file. */
    snprintf(other, sizeof(other), "%s/journal.lock", f->dir);
    assert_int_equal(unlink(other), 0);
    assert_int_equal(symlink("/tmp", other), 0);
    assert_int_equal(ptap_journal_open(f->dir, 0, &j, NULL), -EPERM);
    assert_int_equal(unlink(other), 0);

    /* Writable by others. */
    assert_int_equal(chmod(f->dir, 0770), 0);
    assert_int_equal(ptap_journal_open(f->dir, 0, &j, NULL), -EPERM);
    assert_int_equal(chmod(f->dir, 0755), 0); /* readable is fine */
    j = open_ok(f, 0);
    ptap_journal_close(j);
    assert_int_equal(chmod(f->file, 0622), 0);
    assert_int_equal(ptap_journal_open(f->dir, 0, &j, NULL), -EPERM);
    assert_int_equal(chmod(f->file, 0600), 0);

    /* Owned by someone else (needs root to arrange). */
    if (geteuid() == 0) {
        assert_int_equal(chown(f->file, 65534, 65534), 0);
        err = (ptap_error) { 0 };
        assert_int_equal(ptap_journal_open(f->dir, PTAP_JOURNAL_READONLY, &j, &err), -EPERM);
        assert_non_null(strstr(err.msg, "owned by uid 65534"));
        assert_int_equal(chown(f->file, 0, 0), 0);
        assert_int_equal(chown(f->dir, 65534, 65534), 0);
        assert_int_equal(ptap_journal_open(f->dir, 0, &j, NULL), -EPERM);
        assert_int_equal(chown(f->dir, 0, 0), 0);
    }
    j = open_ok(f, 0);
    ptap_journal_close(j);

    /* Not a directory. */
    assert_int_equal(ptap_journal_open(f->file, 0, &j, NULL), -ENOTDIR);
    assert_int_equal(ptap_journal_open("", 0, &j, NULL), -EINVAL);
    assert_int_equal(ptap_journal_open(f->dir, 1u << 9, &j, NULL), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Concurrency: writers queue, never interleave or lose records */

#define WRITERS 6
#define ROUNDS 25

static int writer_child(const char *dir, int w)
{
    for (int i = 0; i < ROUNDS; i++) {
        ptap_journal *j = NULL;
        ptap_record recs[3];

        if (ptap_journal_open(dir, PTAP_JOURNAL_CREATE, &j, NULL) < 0)
            return 1;
        for (int k = 0; k < 3; k++) {
            recs[k] = tap("x", PTAP_STATE_READY);
            snprintf(recs[k].name, sizeof(recs[k].name), "w%dr%dk%d", w, i, k);
            ptap_journal_new_id(j, recs[k].id);
            snprintf(recs[k].consumer.name, sizeof(recs[k].consumer.name), "%0200d", w);
            recs[k].consumer.kind = PTAP_CONSUMER_QMP;
        }
        recs[2].state = PTAP_STATE_DESTROYED; /* k2 never lives */
        if (ptap_journal_append(j, recs, 3, NULL) < 0)
            return 2;
        ptap_journal_close(j);
        /* Readers in between. */
        if (ptap_journal_open(dir, PTAP_JOURNAL_READONLY, &j, NULL) < 0)
            return 3;
        ptap_journal_close(j);
    }
    return 0;
}

static void test_concurrent_writers(void **state)
{
    fixture *f = *state;
    pid_t pids[WRITERS];
    ptap_journal *j;

    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0)
            _exit(writer_child(f->dir, w));
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_valid(f->file);
    j = open_ok(f, PTAP_JOURNAL_READONLY);
    assert_int_equal(ptap_journal_count(j), WRITERS * ROUNDS * 2);
    assert_int_equal(ptap_journal_log_records(j), WRITERS * ROUNDS * 3);
    for (int w = 0; w < WRITERS; w++)
        for (int i = 0; i < ROUNDS; i++)
            for (int k = 0; k < 3; k++) {
                char name[16];
                snprintf(name, sizeof(name), "w%dr%dk%d", w, i, k);
                if (k == 2)
                    assert_null(ptap_journal_find(j, name));
                else
                    assert_non_null(ptap_journal_find(j, name));
            }
    ptap_journal_close(j);
}

static void test_locking(void **state)
{
    fixture *f = *state;
    ptap_journal *w = open_ok(f, PTAP_JOURNAL_CREATE), *r1 = NULL, *r2 = NULL;

    assert_int_equal(ptap_journal_open(f->dir, PTAP_JOURNAL_NONBLOCK, &r1, NULL), -EWOULDBLOCK);
    assert_int_equal(
        ptap_journal_open(f->dir, PTAP_JOURNAL_READONLY | PTAP_JOURNAL_NONBLOCK, &r1, NULL),
        -EWOULDBLOCK);
    ptap_journal_close(w);
    r1 = open_ok(f, PTAP_JOURNAL_READONLY | PTAP_JOURNAL_NONBLOCK);
    r2 = open_ok(f, PTAP_JOURNAL_READONLY | PTAP_JOURNAL_NONBLOCK);
    assert_int_equal(ptap_journal_open(f->dir, PTAP_JOURNAL_NONBLOCK, &w, NULL), -EWOULDBLOCK);
    ptap_journal_close(r1);
    ptap_journal_close(r2);

    /* The lock file is never renamed: a compaction keeps the lock. */
    w = open_ok(f, PTAP_JOURNAL_NONBLOCK);
    ptap_record rec = tap("a", PTAP_STATE_READY);
    append_ok(w, &rec, 1);
    assert_int_equal(ptap_journal_compact(w, NULL), 0);
    assert_int_equal(
        ptap_journal_open(f->dir, PTAP_JOURNAL_READONLY | PTAP_JOURNAL_NONBLOCK, &r1, NULL),
        -EWOULDBLOCK);
    rec.state = PTAP_STATE_ATTACHED;
    append_ok(w, &rec, 1); /* lands in the new file */
    ptap_journal_close(w);
    r1 = open_ok(f, PTAP_JOURNAL_READONLY);
    assert_int_equal(ptap_journal_find(r1, "a")->state, PTAP_STATE_ATTACHED);
    ptap_journal_close(r1);
}

/* ------------------------------------------------------------------ */
/* Compaction */

static void test_auto_compaction(void **state)
{
    fixture *f = *state;
    ptap_journal *j = open_ok(f, PTAP_JOURNAL_CREATE);
    ptap_record live[10];
    size_t max_log = 0;

    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof(name), "l%d", i);
        live[i] = tap(name, PTAP_STATE_READY);
    }
    append_ok(j, live, 10);
    for (int round = 0; round < 3000; round++) {
        ptap_record *r = &live[round % 10];
        r->mtu = 1000 + (unsigned) round;
        append_ok(j, r, 1);
        if (ptap_journal_log_records(j) > max_log)
            max_log = ptap_journal_log_records(j);
    }
    /* Bounded by 4 x live + 1024 (+ the append that triggered it). */
    assert_true(max_log <= 4 * 10 + 1024 + 1);
    assert_true(ptap_journal_log_records(j) < 3000);
    ptap_journal_close(j);
    assert_valid(f->file);
    j = open_ok(f, PTAP_JOURNAL_READONLY);
    assert_int_equal(ptap_journal_count(j), 10);
    for (int i = 0; i < 10; i++) {
        const ptap_record *r = ptap_journal_get(j, (size_t) i);
        assert_string_equal(r->name, live[i].name);
        assert_int_equal(r->mtu, live[i].mtu);
    }
    ptap_journal_close(j);
}

/* A compaction that died before its rename left a temp file behind. */
static void test_compaction_leftovers(void **state)
{
    fixture *f = *state;
    ptap_journal *j = open_ok(f, PTAP_JOURNAL_CREATE);
    ptap_record rec = tap("keep", PTAP_STATE_READY);
    char tmp[256];
    struct stat st;

    append_ok(j, &rec, 1);
    ptap_journal_close(j);
    snprintf(tmp, sizeof(tmp), "%s/journal.xml.tmp", f->dir);
    write_file(tmp, "<ptap-journal version=\"1\" id=\"00", 30); /* half-written snapshot */
    j = open_ok(f, PTAP_JOURNAL_READONLY);
    assert_non_null(ptap_journal_find(j, "keep"));
    ptap_journal_close(j);
    assert_int_equal(stat(tmp, &st), 0); /* readers leave it */
    j = open_ok(f, 0);
    assert_int_equal(stat(tmp, &st), -1); /* the writer removes it */
    /* A symlink planted at the temp name is removed, never followed. */
    assert_int_equal(symlink("/etc/passwd", tmp), 0);
    assert_int_equal(ptap_journal_compact(j, NULL), 0);
    assert_int_equal(lstat(tmp, &st), -1);
    ptap_journal_close(j);
    assert_valid(f->file);
}

/* Run @point in a child that appends or compacts; it must die there. */
enum fault_op { OP_APPEND, OP_COMPACT, OP_CREATE };

typedef struct fault_case {
    const char *point;
    enum fault_op op;
    bool record_kept; /* OP_APPEND: the new record survives */
} fault_case;

static const fault_case fault_cases[] = {
    { "journal-mid-record", OP_APPEND, false },
    { "journal-before-sync", OP_APPEND, true },
    { "journal-after-sync", OP_APPEND, true },
    { "journal-compact-tmp-written", OP_COMPACT, false },
    { "journal-compact-renamed", OP_COMPACT, false },
    { "journal-compact-done", OP_COMPACT, false },
    { "journal-create-tmp-written", OP_CREATE, false },
    { "journal-create-renamed", OP_CREATE, false },
    { "journal-create-done", OP_CREATE, false },
};

static void fault_one(fixture *f, const fault_case *c)
{
    ptap_journal *j;
    pid_t pid;
    int status;

    rm_rf(f->dir);
    if (c->op != OP_CREATE) {
        ptap_record recs[3] = { tap("a", PTAP_STATE_READY), tap("b", PTAP_STATE_CREATING),
                                tap("c", PTAP_STATE_READY) };
        j = open_ok(f, PTAP_JOURNAL_CREATE);
        append_ok(j, recs, 3);
        recs[2].state = PTAP_STATE_DESTROYED;
        append_ok(j, recs + 2, 1);
        ptap_journal_close(j);
    }
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ptap_record d = tap("d-with-a-name", PTAP_STATE_READY);
        setenv("PTAP_FAULT", c->point, 1);
        if (ptap_journal_open(f->dir, PTAP_JOURNAL_CREATE, &j, NULL) < 0)
            _exit(2);
        if (c->op == OP_APPEND && ptap_journal_append(j, &d, 1, NULL) < 0)
            _exit(3);
        if (c->op == OP_COMPACT && ptap_journal_compact(j, NULL) < 0)
            _exit(4);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("%s: child was not killed at its fault point (status %d)", c->point, status);

    if (c->op == OP_CREATE) {
        /* Either no journal, or a whole empty one. */
        int r = ptap_journal_open(f->dir, PTAP_JOURNAL_READONLY, &j, NULL);
        if (strcmp(c->point, "journal-create-tmp-written") == 0) {
            assert_int_equal(r, -ENOENT);
        } else {
            assert_int_equal(r, 0);
            assert_int_equal(ptap_journal_count(j), 0);
            ptap_journal_close(j);
        }
    } else {
        j = open_ok(f, PTAP_JOURNAL_READONLY);
        assert_int_equal(ptap_journal_count(j), c->record_kept ? 3 : 2);
        assert_non_null(ptap_journal_find(j, "a"));
        assert_int_equal(ptap_journal_find(j, "b")->state, PTAP_STATE_CREATING);
        assert_null(ptap_journal_find(j, "c"));
        if (c->op == OP_APPEND)
            assert_true(!!ptap_journal_find(j, "d-with-a-name") == c->record_kept);
        ptap_journal_close(j);
    }
    /* A writer then carries on, and the result is a valid journal. */
    j = open_ok(f, PTAP_JOURNAL_CREATE);
    ptap_record e = tap("e", PTAP_STATE_READY);
    append_ok(j, &e, 1);
    assert_int_equal(ptap_journal_compact(j, NULL), 0);
    ptap_journal_close(j);
    assert_valid(f->file);
}

static void test_fault_points(void **state)
{
#ifdef PTAP_FAULT_INJECTION
    for (size_t i = 0; i < ARRAY_SIZE(fault_cases); i++)
        fault_one(*state, &fault_cases[i]);
#else
    (void) state;
    (void) fault_one;
    (void) fault_cases;
    skip(); /* needs -DPTAP_FAULT_INJECTION=ON */
#endif
}

/* ------------------------------------------------------------------ */
/* Small pure functions */

static void test_strings(void **state)
{
    (void) state;
    for (int s = 0; s < PTAP_STATE__MAX; s++)
        assert_int_equal(ptap_state_from_string(ptap_state_to_string((ptap_state) s)), s);
    for (int k = 0; k < PTAP_CONSUMER__MAX; k++)
        assert_int_equal(
            ptap_consumer_kind_from_string(ptap_consumer_kind_to_string((ptap_consumer_kind) k)), k);
    assert_string_equal(ptap_state_to_string(PTAP_STATE_ATTACHED), "attached");
    assert_string_equal(ptap_consumer_kind_to_string(PTAP_CONSUMER_HMP_LEGACY), "hmp-legacy");
    assert_null(ptap_state_to_string(PTAP_STATE__MAX));
    assert_int_equal(ptap_state_from_string("Ready"), -EINVAL);
    assert_int_equal(ptap_state_from_string(NULL), -EINVAL);
    assert_int_equal(ptap_consumer_kind_from_string("qmp2"), -EINVAL);
}

static void test_default_dir(void **state)
{
    char buf[256], *saved = getenv("XDG_RUNTIME_DIR") ? strdup(getenv("XDG_RUNTIME_DIR")) : NULL;

    (void) state;
    if (geteuid() == 0) {
        assert_int_equal(ptap_journal_default_dir(buf, sizeof(buf)), 0);
        assert_string_equal(buf, "/run/ptap");
        assert_int_equal(ptap_journal_default_dir(buf, 5), -ENAMETOOLONG);
    } else {
        setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
        assert_int_equal(ptap_journal_default_dir(buf, sizeof(buf)), 0);
        assert_string_equal(buf, "/run/user/1000/ptap");
        setenv("XDG_RUNTIME_DIR", "relative", 1);
        assert_int_equal(ptap_journal_default_dir(buf, sizeof(buf)), -ENOENT);
        unsetenv("XDG_RUNTIME_DIR");
        assert_int_equal(ptap_journal_default_dir(buf, sizeof(buf)), -ENOENT);
    }
    if (saved)
        setenv("XDG_RUNTIME_DIR", saved, 1);
    free(saved);
}

int main(void)
{
    const char *src = getenv("PTAP_SOURCE_DIR");
    const char *data = getenv("PTAP_TESTDATA");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_golden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_points, setup, teardown),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_default_dir),
    };

    snprintf(schema_path, sizeof(schema_path), "%s/docs/journal.rng", src ? src : PTAP_SRCDIR_FALLBACK);
    snprintf(data_dir, sizeof(data_dir), "%s", data ? data : PTAP_SRCDIR_FALLBACK "/tests/data");
    umask(022);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
