/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_journal: the journal's speed promises, measured.
 *   - one journaled append (write + fdatasync) with 10/100/1000/10000
 *     live records: median wall time and its ratio to the first size (the
 *     promise: <= 1.5 at 10,000), and the same for CPU time (which leaves
 *     out the disk's share of fdatasync, the noisy part on a busy host);
 *   - replay (open read-only) of a 10,000-record journal: median in ms
 *     (the promise: well under 100 ms).
 * Output, one line per measurement, for tests/bench/run.sh:
 *   bench journal-append-live-N median_ms=M ratio=R cpu_ms=C cpu_ratio=Q
 *   bench journal-replay-N median_ms=M
 * Usage: bench_journal [--sizes 10,100,1000,10000] [--reps 101]
 *                      [--replay 10000] [--replay-reps 21] [--dir DIR]
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"

/* Why the first failing call failed (the benchmark stops there). */
static ptap_error err;

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static ptap_record record(size_t i)
{
    ptap_record r = { 0 };

    snprintf(r.name, sizeof(r.name), "b%zu", i);
    snprintf(r.id, sizeof(r.id), "op%zu", i);
    r.state = PTAP_STATE_READY;
    r.owner = 1000;
    r.group = (gid_t) -1;
    r.mtu = 1500;
    snprintf(r.bridge, sizeof(r.bridge), "br0");
    if (i % 2) {
        r.state = PTAP_STATE_ATTACHED;
        r.consumer.kind = PTAP_CONSUMER_QMP;
        snprintf(r.consumer.target, sizeof(r.consumer.target), "/run/vm%zu/qmp.sock", i);
        snprintf(r.consumer.netdev_id, sizeof(r.consumer.netdev_id), "net%zu", i);
        snprintf(r.consumer.device_id, sizeof(r.consumer.device_id), "dev%zu", i);
        snprintf(r.consumer.model, sizeof(r.consumer.model), "virtio-net-pci");
        r.consumer.pid = 4242;
    }
    return r;
}

static int fill(ptap_journal *j, size_t n)
{
    enum { CHUNK = 1000 };
    ptap_record *recs = calloc(CHUNK, sizeof(*recs));
    int r = 0;

    if (!recs)
        return -ENOMEM;
    for (size_t i = 0; i < n && r >= 0; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        for (size_t k = 0; k < m; k++)
            recs[k] = record(i + k);
        r = ptap_journal_append(j, recs, m, &err);
    }
    free(recs);
    return r;
}

static int fail(const char *what, int r)
{
    fprintf(stderr, "bench_journal: %s: %s (%s)\n", what, strerror(-r), err.msg);
    return 1;
}

int main(int argc, char **argv)
{
    const char *sizes_arg = "10,100,1000,10000";
    size_t reps = 101, replay_n = 10000, replay_reps = 21;
    char root[256] = "", dir[300];
    double base = 0;
    int r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc)
            sizes_arg = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--replay") == 0 && i + 1 < argc)
            replay_n = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--replay-reps") == 0 && i + 1 < argc)
            replay_reps = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            snprintf(root, sizeof(root), "%s", argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--sizes LIST] [--reps N] [--replay N] "
                            "[--replay-reps N] [--dir DIR]\n", argv[0]);
            return EX_USAGE;
        }
    }
    if (reps == 0 || replay_reps == 0)
        return EX_USAGE;
    if (!*root) {
        snprintf(root, sizeof(root), "/tmp/ptap-bench-journal.XXXXXX");
        if (!mkdtemp(root))
            return fail("mkdtemp", -errno);
    }

    /* One journaled append per live-state size. The sizes take turns
     * within each repetition, so that they sample the same system noise
     * (fdatasync time varies with whatever else the disk is doing). */
    enum { MAX_SIZES = 16 };
    ptap_journal *js[MAX_SIZES];
    size_t ns[MAX_SIZES], n_sizes = 0;
    char *sizes = strdup(sizes_arg), *save = NULL;
    double *t = calloc((reps > replay_reps ? reps : replay_reps) * MAX_SIZES, sizeof(double));
    double *c = calloc(reps * MAX_SIZES, sizeof(double)), cbase = 0;
    if (!sizes || !t || !c)
        return 1;
    for (char *s = strtok_r(sizes, ",", &save); s && n_sizes < MAX_SIZES;
         s = strtok_r(NULL, ",", &save)) {
        ns[n_sizes] = strtoul(s, NULL, 10);
        if (ns[n_sizes] == 0)
            return EX_USAGE;
        snprintf(dir, sizeof(dir), "%s/append-%zu", root, ns[n_sizes]);
        r = ptap_journal_open(dir, PTAP_JOURNAL_CREATE, &js[n_sizes], &err);
        if (r < 0)
            return fail("open", r);
        r = fill(js[n_sizes], ns[n_sizes]);
        if (r < 0)
            return fail("fill", r);
        n_sizes++;
    }
    free(sizes);
    for (size_t k = 0; k < reps; k++)
        for (size_t i = 0; i < n_sizes; i++) {
            ptap_record rec = *ptap_journal_get(js[i], k % ns[i]);
            double t0, c0;

            rec.state = rec.state == PTAP_STATE_READY ? PTAP_STATE_ATTACHING : PTAP_STATE_READY;
            if (rec.state == PTAP_STATE_READY)
                rec.consumer = (ptap_consumer) { 0 };
            else
                rec.consumer = record(1).consumer;
            t0 = now_ms();
            c0 = cpu_ms();
            r = ptap_journal_append(js[i], &rec, 1, &err);
            c[i * reps + k] = cpu_ms() - c0;
            t[i * reps + k] = now_ms() - t0;
            if (r < 0)
                return fail("append", r);
        }
    for (size_t i = 0; i < n_sizes; i++) {
        double m = median(t + i * reps, reps), cm = median(c + i * reps, reps);
        if (base == 0) {
            base = m;
            cbase = cm;
        }
        printf("bench journal-append-live-%zu median_ms=%.4f ratio=%.3f cpu_ms=%.4f cpu_ratio=%.3f\n",
               ns[i], m, m / base, cm, cm / cbase);
        ptap_journal_close(js[i]);
    }
    fflush(stdout);

    /* Replay of a journal of replay_n records (all live: the worst case). */
    if (replay_n > 0) {
        ptap_journal *j;

        snprintf(dir, sizeof(dir), "%s/replay", root);
        r = ptap_journal_open(dir, PTAP_JOURNAL_CREATE, &j, &err);
        if (r < 0)
            return fail("open", r);
        r = fill(j, replay_n);
        ptap_journal_close(j);
        if (r < 0)
            return fail("fill", r);
        for (size_t k = 0; k < replay_reps; k++) {
            double t0 = now_ms();
            r = ptap_journal_open(dir, PTAP_JOURNAL_READONLY, &j, &err);
            if (r < 0)
                return fail("replay", r);
            if (ptap_journal_count(j) != replay_n)
                return fail("replay count", -EBADMSG);
            ptap_journal_close(j);
            t[k] = now_ms() - t0;
        }
        printf("bench journal-replay-%zu median_ms=%.3f\n", replay_n, median(t, replay_reps));
    }
    free(t);
    free(c);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
