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
#include "kview.h"
#include "pool.h"
#include "recover.h"
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

    if (len)
        *len = 0;
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
    { "network", 0, NULL }, /* the libvirt network a bridge came from, escaped text */
    { "garbage-middle", -EBADMSG, "line 4" },
    { "unclosed-middle", -EBADMSG, "line 5" },
    { "bad-state", -EBADMSG, "line 4: damaged record: unknown state ('state')" },
    { "bad-mac", -EBADMSG, "line 4" },
    { "bad-time", -EBADMSG, "line 4" },
    { "unknown-attr", -EBADMSG, "unknown attribute ('colour')" },
    { "seq-disorder", -EBADMSG, "seq 2 does not follow 2" },
    { "control-char", -EBADMSG, "line 4" },
    { "network-no-bridge", -EBADMSG, "line 2: damaged record: a network without its bridge" },
    { "network-slash", -EBADMSG, "line 2: damaged record: a network name" },
    { "version-3", -EPROTONOSUPPORT, "format version '3'" },
    /* Version 2: every line sealed with its CRC-32C (made by seal.py). */
    { "v2-log", 0, NULL },
    { "v2-torn-tail", 0, NULL },
    { "next-seq-lowered", 0, NULL }, /* the out's next-seq is past op6 */
    { "seq-near-max", 0, NULL },
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
/* One flipped bit at every offset: never a destructive recovery
 *
 * A multi-tap journal as ptap writes it (batches made and closed, an
 * attached tap, an interrupted create, a create whose outcome was torn, a
 * destroy in flight) and a kernel that agrees with it (simulated: a view
 * whose taps carry the journal's marks). The recovery plan is made by the
 * real decision functions (ptap_recover_decide(), the rollback rules of
 * pool.h), as plan_record() in recover.c makes it. For every bit of the
 * file flipped on its own, either the journal is refused (-EBADMSG, the
 * message naming the line) or, for a bit of the torn tail, loaded; and no
 * plan of a loaded one removes a tap that the undamaged plan keeps. */

typedef struct flip_world {
    ptap_kdev devs[32];
    ptap_kview kv;
} flip_world;

static int kdev_cmp(const void *a, const void *b)
{
    return strcmp(((const ptap_kdev *) a)->name, ((const ptap_kdev *) b)->name);
}

static void world_add(flip_world *w, const char *name, const char *jid, const char *op,
                      int ifindex)
{
    ptap_kdev *d = &w->devs[w->kv.n++];

    assert_true(w->kv.n <= ARRAY_SIZE(w->devs));
    *d = (ptap_kdev) { .ifindex = ifindex, .is_tap = true, .marked = true,
                       .maker = (long long) geteuid(), .owner = 1000, .group = -1 };
    snprintf(d->name, sizeof(d->name), "%s", name);
    snprintf(d->journal, sizeof(d->journal), "%s", jid);
    snprintf(d->op, sizeof(d->op), "%s", op);
    w->kv.devs = w->devs;
    qsort(w->devs, w->kv.n, sizeof(w->devs[0]), kdev_cmp);
}

/* The names the plan of @j over @kv removes, as one string " a b c ". */
static void flip_plan(ptap_journal *j, const ptap_kview *kv, char *out, size_t len)
{
    const char *jid = ptap_journal_id(j);
    size_t n = ptap_journal_count(j);

#define ADD(nm)                                                                    \
    do {                                                                           \
        char key[IFNAMSIZ + 2];                                                    \
        snprintf(key, sizeof(key), " %s ", (nm));                                  \
        if (!strstr(out, key))                                                     \
            snprintf(out + strlen(out), len - strlen(out), "%s ", (nm));           \
    } while (0)

    snprintf(out, len, " ");
    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_get(j, i), *b;
        const ptap_kdev *d = ptap_kview_find(kv, rec->name);
        ptap_decision dec;
        ptap_facts f = {
            .tap_ours = d && ptap_kdev_is_record(d, jid, rec),
            .tap_exists = d != NULL,
            .probe = PTAP_PROBE_PRESENT, /* every guest runs and has its device */
        };

        f.batch_open = rec->state == PTAP_STATE_READY && *rec->batch &&
                       (b = ptap_journal_find_batch(j, rec->batch)) &&
                       b->state == PTAP_STATE_CREATING && ptap_pool_rollback_owns(b, rec, d, jid);
        ptap_recover_decide(rec, &f, &dec);
        if (!dec.action)
            continue;
        if (dec.destroy_batch) {
            int floor = ptap_pool_rollback_floor(j, rec, kv);
            for (size_t k = 0; k < kv->n; k++)
                if (ptap_pool_rollback_takes(j, rec, floor, &kv->devs[k], NULL))
                    ADD(kv->devs[k].name);
        }
        if (dec.outcome == PTAP_OUTCOME_CLOSE && f.tap_ours)
            ADD(d->name);
    }
    for (size_t k = 0; k < kv->n; k++) { /* orphans */
        const ptap_kdev *d = &kv->devs[k];
        const ptap_record *rec;

        if (!ptap_kdev_ours(d, jid))
            continue;
        rec = ptap_journal_find(j, d->name);
        if (!rec || rec->state == PTAP_STATE_CREATING)
            ADD(d->name);
    }
#undef ADD
}

/* A create as pool.c writes it: intent, READY records (@n_ready of
 * @n), intent closed unless @open. Taps join @w. */
static void flip_batch(ptap_journal *j, flip_world *w, const char *prefix, unsigned n,
                       unsigned n_ready, bool open, bool in_kernel, int *ifindex)
{
    ptap_record intent = tap("x", PTAP_STATE_CREATING), out[8];

    snprintf(intent.name, sizeof(intent.name), "%s%%d", prefix);
    ptap_journal_new_id(j, intent.id);
    snprintf(intent.batch, sizeof(intent.batch), "%s", intent.id);
    intent.count = n;
    snprintf(intent.bridge, sizeof(intent.bridge), "br0");
    append_ok(j, &intent, 1);
    for (unsigned i = 0; i < n; i++) {
        out[i] = intent;
        out[i].count = 0;
        ptap_journal_new_id(j, out[i].id);
        snprintf(out[i].name, sizeof(out[i].name), "%s%u", prefix, i);
        out[i].state = PTAP_STATE_READY;
        out[i].ifindex = ++*ifindex;
        if (in_kernel)
            world_add(w, out[i].name, ptap_journal_id(j), intent.id, out[i].ifindex);
    }
    if (n_ready)
        append_ok(j, out, n_ready);
    if (!open) {
        intent.state = PTAP_STATE_DESTROYED;
        append_ok(j, &intent, 1);
    }
}

static void test_flip_every_bit(void **state)
{
    fixture *f = *state;
    flip_world w = { 0 };
    ptap_journal *j = open_ok(f, PTAP_JOURNAL_CREATE);
    _cleanup_free_ char *buf = NULL, *img = NULL;
    char base[512], plan[512];
    size_t len, complete, n_loaded = 0, n_refused = 0;
    int ifindex = 10;

    flip_batch(j, &w, "a", 3, 3, false, true, &ifindex);  /* made */
    flip_batch(j, &w, "b", 4, 4, false, true, &ifindex);  /* made; b1 attached below */
    flip_batch(j, &w, "c", 2, 0, true, true, &ifindex);   /* helper ran, ptap died */
    flip_batch(j, &w, "d", 2, 1, true, true, &ifindex);   /* outcome torn after d0 */
    ptap_record solo = tap("solo", PTAP_STATE_READY), b1 = *ptap_journal_find(j, "b1");
    ptap_journal_new_id(j, solo.id);
    snprintf(solo.batch, sizeof(solo.batch), "%s", solo.id);
    solo.ifindex = ++ifindex;
    append_ok(j, &solo, 1);
    world_add(&w, "solo", ptap_journal_id(j), solo.id, solo.ifindex);
    b1.state = PTAP_STATE_ATTACHED;
    b1.consumer.kind = PTAP_CONSUMER_QMP;
    snprintf(b1.consumer.target, sizeof(b1.consumer.target), "/run/vm1/qmp.sock");
    snprintf(b1.consumer.netdev_id, sizeof(b1.consumer.netdev_id), "ptapnet0");
    append_ok(j, &b1, 1);
    ptap_record a2 = *ptap_journal_find(j, "a2");
    a2.state = PTAP_STATE_DESTROYING; /* a destroy in flight */
    append_ok(j, &a2, 1);
    world_add(&w, "orph0", ptap_journal_id(j), "op999", ++ifindex); /* an orphan */
    assert_int_equal(ptap_journal_count(j), 3 + 4 + 1 + 1 + 1 + 1);
    ptap_journal_close(j);

    buf = read_file(f->file, &len);
    assert_non_null(buf);
    complete = len;
    /* And a torn tail: half of the next record. */
    img = malloc(len + 64);
    assert_non_null(img);
    memcpy(img, buf, len);
    memcpy(img + len, "<tap crc=\"0badc0de\" seq=\"99\" id=\"op99\" name=\"e0\" st", 52);
    len += 52;

    assert_int_equal(ptap_journal_load_buffer(img, len, &j, NULL), 0);
    flip_plan(j, &w.kv, base, sizeof(base));
    ptap_journal_close(j);
    /* The undamaged plan: the interrupted creates and the destroy, the orphan. */
    assert_string_equal(base, " a2 c0 c1 d0 d1 orph0 ");

    for (size_t off = 0; off < len; off++)
        for (int bit = 0; bit < 8; bit++) {
            ptap_error err = { 0 };
            int r;

            img[off] ^= (char) (1 << bit);
            j = NULL;
            r = ptap_journal_load_buffer(img, len, &j, &err);
            img[off] ^= (char) (1 << bit);
            if (r < 0) {
                if (r != -EBADMSG || !strstr(err.msg, "(memory)"))
                    fail_msg("offset %zu bit %d: %d (%s)", off, bit, r, err.msg);
                /* Past the magic, the message names the line. */
                if (off > strlen("<ptap-journal ") && !strstr(err.msg, " line "))
                    fail_msg("offset %zu bit %d: no line in '%s'", off, bit, err.msg);
                n_refused++;
                continue;
            }
            n_loaded++;
            /* Only a bit of the torn tail leaves a loadable journal... */
            if (off < complete)
                fail_msg("offset %zu bit %d (of %zu complete bytes) was not detected", off, bit,
                         complete);
            /* ... and whatever loads plans nothing the undamaged one does not. */
            flip_plan(j, &w.kv, plan, sizeof(plan));
            ptap_journal_close(j);
            for (char *p = strtok(plan, " "); p; p = strtok(NULL, " ")) {
                char key[IFNAMSIZ + 2];
                snprintf(key, sizeof(key), " %s ", p);
                if (!strstr(base, key))
                    fail_msg("offset %zu bit %d: the plan removes live tap '%s'", off, bit, p);
            }
        }
    assert_int_equal(n_loaded, 8 * (len - complete));
    assert_int_equal(n_refused, 8 * complete);
}

/* ------------------------------------------------------------------ */
/* seq never wraps */

static void test_seq_limit(void **state)
{
    fixture *f = *state;
    char in[4200], id1[PTAP_RECORD_ID_MAX], id2[PTAP_RECORD_ID_MAX];
    _cleanup_free_ char *inbuf = NULL;
    size_t inlen;
    ptap_record recs[2] = { tap("n1", PTAP_STATE_READY), tap("n2", PTAP_STATE_READY) };
    ptap_error err = { 0 };
    ptap_journal *j;

    snprintf(in, sizeof(in), "%s/journal/seq-near-max-in.xml", data_dir);
    inbuf = read_file(in, &inlen);
    assert_non_null(inbuf);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    write_file(f->file, inbuf, inlen);

    j = open_ok(f, 0);
    append_ok(j, recs, 1); /* seq 2^63 - 2 */
    assert_int_equal(recs[0].seq, PTAP_JOURNAL_SEQ_MAX - 1);
    /* Two more do not fit; nothing is written. */
    assert_int_equal(ptap_journal_append(j, recs, 2, &err), -EOVERFLOW);
    assert_non_null(strstr(err.msg, "sequence numbers exhausted"));
    append_ok(j, recs + 1, 1); /* the last one: 2^63 - 1 */
    assert_int_equal(recs[1].seq, PTAP_JOURNAL_SEQ_MAX);
    err = (ptap_error) { 0 };
    assert_int_equal(ptap_journal_append(j, recs, 1, &err), -EOVERFLOW);
    /* The counter stops: an id repeats, and cannot be used. */
    ptap_journal_new_id(j, id1);
    ptap_journal_new_id(j, id2);
    assert_string_equal(id1, "op9223372036854775808");
    assert_string_equal(id1, id2);
    assert_int_equal(ptap_journal_compact(j, NULL), 0);
    ptap_journal_close(j);
    assert_valid(f->file);
    j = open_ok(f, 0);
    assert_int_equal(ptap_journal_count(j), 3);
    assert_int_equal(ptap_journal_append(j, recs, 1, NULL), -EOVERFLOW);
    ptap_journal_close(j);
}

/* ------------------------------------------------------------------ */
/* Rolling back a create by its operation id: what else is known */

static void test_rollback_rules(void **state)
{
    fixture *f = *state;
    flip_world w = { 0 };
    ptap_journal *j = open_ok(f, PTAP_JOURNAL_CREATE);
    const char *jid = ptap_journal_id(j), *why = NULL;
    ptap_record old[4], intent = tap("z%d", PTAP_STATE_CREATING), mine;
    const ptap_record *in;
    int floor;

    /* An older batch "op5" with four live taps... */
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof(name), "z%d", i);
        old[i] = tap(name, PTAP_STATE_READY);
        snprintf(old[i].id, sizeof(old[i].id), "op%d", 6 + i);
        snprintf(old[i].batch, sizeof(old[i].batch), "op5");
        old[i].ifindex = 20 + i;
        world_add(&w, name, jid, "op5", old[i].ifindex);
    }
    append_ok(j, old, 4);
    /* ... and a new create that repeats its id (a lowered next-seq). */
    snprintf(intent.id, sizeof(intent.id), "op5");
    snprintf(intent.batch, sizeof(intent.batch), "op5");
    intent.count = 2;
    append_ok(j, &intent, 1);
    in = ptap_journal_find_batch(j, "op5");
    assert_non_null(in);
    /* What the new create made: z4 (no record yet), z5 (its READY record,
     * written after the intent: a torn outcome). */
    world_add(&w, "z4", jid, "op5", 30);
    world_add(&w, "z5", jid, "op5", 31);
    mine = tap("z5", PTAP_STATE_READY);
    snprintf(mine.id, sizeof(mine.id), "op11");
    snprintf(mine.batch, sizeof(mine.batch), "op5");
    mine.ifindex = 31;
    append_ok(j, &mine, 1);
    /* Marked by op5 too, but older than every tap on record: no record. */
    world_add(&w, "y0", jid, "op5", 3);
    /* Another operation's, another journal's. */
    world_add(&w, "o0", jid, "op77", 32);
    world_add(&w, "x0", "fedcba9876543210", "op5", 33);

    floor = ptap_pool_rollback_floor(j, in, &w.kv);
    assert_int_equal(floor, 23);
    for (int i = 0; i < 4; i++) {
        const ptap_record *rec = ptap_journal_find(j, old[i].name);
        const ptap_kdev *d = ptap_kview_find(&w.kv, old[i].name);

        assert_false(ptap_pool_rollback_owns(in, rec, d, jid));
        assert_false(ptap_pool_rollback_takes(j, in, floor, d, &why));
        assert_non_null(strstr(why, "older operation"));
    }
    assert_true(ptap_pool_rollback_takes(j, in, floor, ptap_kview_find(&w.kv, "z4"), &why));
    assert_true(ptap_pool_rollback_owns(in, ptap_journal_find(j, "z5"),
                                        ptap_kview_find(&w.kv, "z5"), jid));
    assert_true(ptap_pool_rollback_takes(j, in, floor, ptap_kview_find(&w.kv, "z5"), &why));
    assert_false(ptap_pool_rollback_takes(j, in, floor, ptap_kview_find(&w.kv, "y0"), &why));
    assert_non_null(strstr(why, "ifindex"));
    assert_false(ptap_pool_rollback_takes(j, in, floor, ptap_kview_find(&w.kv, "o0"), &why));
    assert_false(ptap_pool_rollback_takes(j, in, floor, ptap_kview_find(&w.kv, "x0"), &why));
    /* A READY record of the batch whose tap carries another op's mark is
     * not the batch's either. */
    ptap_kdev other = *ptap_kview_find(&w.kv, "z5");
    snprintf(other.op, sizeof(other.op), "op77");
    assert_false(ptap_pool_rollback_owns(in, ptap_journal_find(j, "z5"), &other, jid));
    ptap_journal_close(j);
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

/* Waiting for the lock: who holds it, and giving up. A child holds the
 * lock until the parent writes a byte into @go. */
static pid_t lock_holder_child(const fixture *f, int *go_fd)
{
    int ready[2], go[2];
    pid_t pid;
    char c;

    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ptap_journal *j = NULL;

        close(ready[0]);
        close(go[1]);
        if (ptap_journal_open(f->dir, PTAP_JOURNAL_CREATE, &j, NULL) < 0)
            _exit(2);
        (void) !write(ready[1], "r", 1);
        (void) !read(go[0], &c, 1);
        ptap_journal_close(j);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    *go_fd = go[1];
    return pid;
}

typedef struct notice_log {
    int calls;
    char holder[256];
} notice_log;

static void notice_cb(const char *path, const char *holder, void *userdata)
{
    notice_log *n = userdata;

    assert_non_null(strstr(path, "journal.xml"));
    n->calls++;
    snprintf(n->holder, sizeof(n->holder), "%s", holder);
}

static void test_lock_wait(void **state)
{
    fixture *f = *state;
    notice_log log = { 0 };
    ptap_journal_wait w = { .timeout_ms = 400, .notice_ms = 100, .notice = notice_cb,
                            .userdata = &log };
    ptap_journal *j = NULL;
    ptap_error err = { 0 };
    char want[32];
    int go, status;
    int64_t t0, dt;
    pid_t pid = lock_holder_child(f, &go);

    snprintf(want, sizeof(want), "pid %ld (", (long) pid);
    /* A reader waits, is told who holds the lock, and gives up in time. */
    t0 = ptap_now_ms();
    assert_int_equal(ptap_journal_open_wait(f->dir, PTAP_JOURNAL_READONLY, &w, &j, &err),
                     -EWOULDBLOCK);
    dt = ptap_now_ms() - t0;
    assert_true(dt >= 400 && dt < 2000);
    assert_int_equal(log.calls, 1);
    assert_non_null(strstr(log.holder, want));
    assert_non_null(strstr(log.holder, "test_journal"));
    assert_non_null(strstr(err.msg, f->file));
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "gave up after 0.4 s"));
    /* Not waiting at all: the holder is named too. */
    err = (ptap_error) { 0 };
    assert_int_equal(ptap_journal_open(f->dir, PTAP_JOURNAL_NONBLOCK, &j, &err), -EWOULDBLOCK);
    assert_non_null(strstr(err.msg, want));
    w.timeout_ms = 0;
    assert_int_equal(ptap_journal_open_wait(f->dir, 0, &w, &j, NULL), -EWOULDBLOCK);

    /* Released while a writer waits: it gets the lock at once (woken by
     * the holder's close, not by its next look). */
    w.timeout_ms = 10000;
    log.calls = 0;
    assert_int_equal(write(go, "g", 1), 1);
    close(go);
    t0 = ptap_now_ms();
    j = NULL;
    assert_int_equal(ptap_journal_open_wait(f->dir, 0, &w, &j, NULL), 0);
    assert_true(ptap_now_ms() - t0 < 2000);
    ptap_journal_close(j);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The space reserve: made by a writer, sized by the live records. */
static void test_reserve(void **state)
{
    fixture *f = *state;
    ptap_journal *j = open_ok(f, PTAP_JOURNAL_CREATE);
    ptap_record many[300];
    char reserve[256];
    struct stat st;

    snprintf(reserve, sizeof(reserve), "%s/journal.reserve", f->dir);
    assert_int_equal(stat(reserve, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_true(st.st_size >= 256 * 1024);
    assert_true(st.st_blocks * 512 >= st.st_size); /* allocated, not sparse */
    for (int i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof(name), "r%d", i);
        many[i] = tap(name, PTAP_STATE_READY);
    }
    append_ok(j, many, 300);
    ptap_journal_close(j);
    /* The next writer grows it: room for a copy of 300 live records. */
    j = open_ok(f, 0);
    ptap_journal_close(j);
    assert_int_equal(stat(reserve, &st), 0);
    assert_true(st.st_size >= 256 * 1024 + 300 * 2048);
    /* Readers never make it. */
    assert_int_equal(unlink(reserve), 0);
    j = open_ok(f, PTAP_JOURNAL_READONLY);
    ptap_journal_close(j);
    assert_int_equal(stat(reserve, &st), -1);
    /* A symlink in its place is never followed. */
    assert_int_equal(symlink("/etc/passwd", reserve), 0);
    j = open_ok(f, 0);
    ptap_journal_close(j);
    assert_int_equal(lstat(reserve, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(unlink(reserve), 0);
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
        cmocka_unit_test_setup_teardown(test_flip_every_bit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
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
