/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * journal.c: the crash-safe, append-only XML journal (see journal.h and
 * docs/journal.md for the format, the fold and the durability protocol).
 *
 * Layout of journal.xml: one header line (an unclosed <ptap-journal>
 * start tag), then one <tap> record per line. The closing tag is never
 * written: replay parses "everything up to the last newline" plus a
 * closing tag as one document. Bytes after the last newline are a torn
 * record (the writer died mid-write) and are dropped.
 *
 * All formatting and parsing goes through libxml2; only numbers are
 * formatted here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <libxml/hash.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "fault.h"
#include "journal.h"
#include "log.h"
#include "util.h"
#include "validate.h"

#define JOURNAL_FILE "journal.xml"
#define JOURNAL_TMP "journal.xml.tmp"
#define JOURNAL_LOCK "journal.lock"
#define JOURNAL_RESERVE "journal.reserve"
#define ROOT_NAME "ptap-journal"
#define CLOSE_TAG "</ptap-journal>"

/* A version 2 line carries its checksum as the first attribute, right
 * after the element's name: <tap crc="0123abcd" seq=...>. */
#define CRC_ATTR " crc=\""
#define CRC_ATTR_LEN (sizeof(CRC_ATTR) - 1 + 8 + 1) /* ' crc="' + 8 hex + '"' */
#define HEADER_START "<" ROOT_NAME
#define RECORD_START "<tap"

/* The space reserve (journal.reserve): enough for a compaction's copy of
 * the live records and a recovery's records about each of them. */
#define RESERVE_MIN (256 * 1024)
#define RESERVE_PER_LIVE 2048
#define RESERVE_ROUND (64 * 1024)

/* Waiting for the lock: a look at least this often, even without a wake-up. */
#define LOCK_POLL_MS 100

/* Auto-compaction: when the file holds more than FACTOR x live + MIN
 * records. The amortised cost of a compaction is then O(1) per append.
 * MIN: every command reads the whole file (~1.5 us a record), a
 * compaction costs about one command's two fdatasyncs; 256 made a
 * create + destroy of one tap 1-2 ms faster than 1024 (docs/performance.md). */
#define COMPACT_FACTOR 4
#define COMPACT_MIN 256

/* 9999-12-31T23:59:59Z: the last second ISO-8601 with four digits holds. */
#define TIME_MAX_SECONDS INT64_C(253402300799)

#define KEY_MAX (PTAP_RECORD_ID_MAX + 1) /* "%" + batch id, or a tap name */

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlNodePtr, xmlFreeNode)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlBufferPtr, xmlBufferFree)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlParserCtxtPtr, xmlFreeParserCtxt)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlRelaxNGParserCtxtPtr, xmlRelaxNGFreeParserCtxt)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlRelaxNGPtr, xmlRelaxNGFree)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlRelaxNGValidCtxtPtr, xmlRelaxNGFreeValidCtxt)

/* One live key. */
typedef struct entry {
    ptap_record rec;
    char key[KEY_MAX];
    size_t pos;                  /* index in ptap_journal.order */
    bool batch;
    struct entry *bprev, *bnext; /* live batch records, creation order */
} entry;

struct ptap_journal {
    unsigned flags;
    bool memory;      /* ptap_journal_load_buffer(): no file, no lock */
    bool broken;      /* a write or sync failed: refuse further appends */
    bool spend_reserve; /* ptap_journal_use_reserve(): any append may spend it */
    int version;      /* format version as read (written: PTAP_JOURNAL_VERSION) */
    int dirfd, lockfd, fd;
    char *path;
    char id[PTAP_JOURNAL_ID_LEN + 1];
    uint64_t next_seq;
    size_t log_records; /* complete records in the file */
    off_t size;         /* bytes of header + complete records */
    ptap_journal_stamp at_lock; /* the file as the lock found it */

    xmlHashTablePtr keys; /* key -> entry */
    entry **order;        /* creation order; NULL = closed since */
    size_t n_order, cap_order, n_live;
    entry *batch_head, *batch_tail;
};

/* ------------------------------------------------------------------ */
/* Errors */

/* Explain a failure in @err (NULL allowed; the first one wins) and in
 * the debug log. Returns @code. */
static int fail(ptap_error *err, int code, const char *fmt, ...) _printf_(3, 4);
static int fail(ptap_error *err, int code, const char *fmt, ...)
{
    char msg[PTAP_ERROR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ptap_debug("journal: %s", msg);
    return ptap_error_set(err, code, 0, "%s", msg);
}

/* ------------------------------------------------------------------ */
/* Checksums: CRC-32C (Castagnoli; reflected polynomial 0x82f63b78).
 *
 * Every line of a version 2 journal carries the CRC-32C of its own bytes
 * (without the crc attribute and the newline). CRC-32C rather than zlib's
 * crc32: a dozen lines here instead of a new dependency, and a polynomial
 * chosen for error detection (iSCSI, ext4, btrfs use it for metadata):
 * within a line of any length ptap writes, every error of one, two or an
 * odd number of bits and every burst of up to 32 bits is detected, with
 * certainty, not with high probability. x86-64 computes it in one
 * instruction per 8 bytes (SSE 4.2, Nehalem and later: what the kernel's
 * crc32c-intel does); elsewhere table-driven, a byte at a time. */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;

        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ UINT32_C(0x82f63b78) : c >> 1;
        crc_table[i] = c;
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The same CRC by the CPU's CRC32 instruction (its polynomial is CRC-32C's). */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p,
                                                            size_t len)
{
    uint64_t c = ~crc;

    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;

        memcpy(&w, p, sizeof(w));
        c = __builtin_ia32_crc32di(c, w);
    }
    for (; len; p++, len--)
        c = __builtin_ia32_crc32qi((uint32_t) c, *p);
    return ~(uint32_t) c;
}
#define HAVE_CRC32C_HW 1
#endif

/* Continue @crc (0 to start) over @len bytes: crc(a + b) is
 * crc32c_update(crc32c_update(0, a), b). */
static uint32_t crc32c_update(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;

#ifdef HAVE_CRC32C_HW
    if (__builtin_cpu_supports("sse4.2"))
        return crc32c_hw(crc, p, len);
#endif
    pthread_once(&crc_once, crc_table_init);
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* Append @line (@len bytes, no crc attribute, no newline; it starts with
 * @start, "<tap" or "<ptap-journal") to @out sealed: with ' crc="X"' after
 * @start, then the newline. */
static int line_seal(xmlBufferPtr out, const char *line, size_t len, const char *start)
{
    size_t n = strlen(start);
    char attr[CRC_ATTR_LEN + 1];

    if (len < n || memcmp(line, start, n) != 0 || len > INT_MAX)
        return -EIO;
    snprintf(attr, sizeof(attr), CRC_ATTR "%08" PRIx32 "\"", crc32c_update(0, line, len));
    if (xmlBufferAdd(out, BAD_CAST line, (int) n) != 0 ||
        xmlBufferAdd(out, BAD_CAST attr, (int) CRC_ATTR_LEN) != 0 ||
        xmlBufferAdd(out, BAD_CAST line + n, (int) (len - n)) != 0 || xmlBufferCCat(out, "\n") != 0)
        return -ENOMEM;
    return 0;
}

typedef enum seal {
    SEAL_OK,       /* the checksum matches */
    SEAL_MISSING,  /* no ' crc="X"' right after @start */
    SEAL_MISMATCH, /* one there, and wrong */
} seal;

/* Check the seal of @line (@len bytes, no newline). Sets *stored and
 * *computed for a message. */
static seal line_unseal(const char *line, size_t len, const char *start, uint32_t *stored,
                        uint32_t *computed)
{
    size_t n = strlen(start);
    const char *hex = line + n + sizeof(CRC_ATTR) - 1;
    uint32_t v = 0, c;

    if (len < n + CRC_ATTR_LEN || memcmp(line, start, n) != 0 ||
        memcmp(line + n, CRC_ATTR, sizeof(CRC_ATTR) - 1) != 0 || hex[8] != '"')
        return SEAL_MISSING;
    for (int i = 0; i < 8; i++) {
        int d = hex[i] >= '0' && hex[i] <= '9' ? hex[i] - '0'
                : hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 'a' + 10
                                                 : -1;
        if (d < 0)
            return SEAL_MISSING;
        v = (v << 4) | (uint32_t) d;
    }
    c = crc32c_update(0, line, n);
    c = crc32c_update(c, line + n + CRC_ATTR_LEN, len - n - CRC_ATTR_LEN);
    *stored = v;
    *computed = c;
    return v == c ? SEAL_OK : SEAL_MISMATCH;
}

/* ------------------------------------------------------------------ */
/* Enumerations */

static const char *const state_names[PTAP_STATE__MAX] = {
    [PTAP_STATE_CREATING] = "creating",     [PTAP_STATE_READY] = "ready",
    [PTAP_STATE_ATTACHING] = "attaching",   [PTAP_STATE_ATTACHED] = "attached",
    [PTAP_STATE_DETACHING] = "detaching",   [PTAP_STATE_DESTROYING] = "destroying",
    [PTAP_STATE_DESTROYED] = "destroyed",
};

static const char *const kind_names[PTAP_CONSUMER__MAX] = {
    [PTAP_CONSUMER_NONE] = "none",           [PTAP_CONSUMER_QMP] = "qmp",
    [PTAP_CONSUMER_HMP] = "hmp",             [PTAP_CONSUMER_HMP_LEGACY] = "hmp-legacy",
    [PTAP_CONSUMER_LIBVIRT] = "libvirt",
};

static const struct {
    unsigned bit;
    const char *name;
} flag_names[] = {
    { PTAP_TAP_MULTI_QUEUE, "multi-queue" },
    { PTAP_TAP_VNET_HDR, "vnet-hdr" },
    { PTAP_TAP_EPHEMERAL, "ephemeral" },
    { PTAP_TAP_KEEP, "keep" },
};

const char *ptap_state_to_string(ptap_state s)
{
    return (unsigned) s < PTAP_STATE__MAX ? state_names[s] : NULL;
}

int ptap_state_from_string(const char *s)
{
    for (int i = 0; s && i < PTAP_STATE__MAX; i++)
        if (strcmp(s, state_names[i]) == 0)
            return i;
    return -EINVAL;
}

const char *ptap_consumer_kind_to_string(ptap_consumer_kind k)
{
    return (unsigned) k < PTAP_CONSUMER__MAX ? kind_names[k] : NULL;
}

int ptap_consumer_kind_from_string(const char *s)
{
    for (int i = 0; s && i < PTAP_CONSUMER__MAX; i++)
        if (strcmp(s, kind_names[i]) == 0)
            return i;
    return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Field checks */

/* Strict UTF-8 (no overlongs, no surrogates) of XML characters, with no
 * control characters: what can be written into an attribute and read
 * back unchanged, and shown to a person. */
static bool text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *) s;

    while (*p) {
        uint32_t c;
        int n;

        if (p[0] < 0x80) {
            c = p[0];
            n = 1;
        } else if ((p[0] & 0xe0) == 0xc0) {
            c = p[0] & 0x1f;
            n = 2;
        } else if ((p[0] & 0xf0) == 0xe0) {
            c = p[0] & 0x0f;
            n = 3;
        } else if ((p[0] & 0xf8) == 0xf0) {
            c = p[0] & 0x07;
            n = 4;
        } else {
            return false;
        }
        for (int i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000))
            return false; /* overlong */
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || (c >= 0xd800 && c <= 0xdfff) ||
            c == 0xfffe || c == 0xffff || c > 0x10ffff)
            return false;
        p += n;
    }
    return true;
}

static bool record_is_batch(const ptap_record *r)
{
    return r->count > 0 || ptap_ifname_is_template(r->name);
}

static void xmlHashFreep(xmlHashTablePtr *h)
{
    if (*h)
        xmlHashFree(*h, NULL);
}

static void record_key(const ptap_record *r, char key[KEY_MAX])
{
    if (record_is_batch(r))
        snprintf(key, KEY_MAX, "%%%s", *r->batch ? r->batch : r->id);
    else
        snprintf(key, KEY_MAX, "%s", r->name);
}

#define TERMINATED(a) (strnlen((a), sizeof(a)) < sizeof(a))

static bool consumer_is_empty(const ptap_consumer *c)
{
    static const ptap_consumer zero;

    return memcmp(c, &zero, sizeof(zero)) == 0;
}

/* Everything a record must satisfy, written or read. Sets *why. */
static int record_check(const ptap_record *r, const char **why)
{
    const ptap_consumer *c = &r->consumer;
    uint8_t mac[PTAP_MAC_LEN];

#define WHY(msg)          \
    do {                  \
        *why = (msg);     \
        return -EINVAL;   \
    } while (0)

    if (!TERMINATED(r->id) || !TERMINATED(r->name) || !TERMINATED(r->batch) ||
        !TERMINATED(r->bridge) || !TERMINATED(r->mac) || !TERMINATED(r->netns.name) ||
        !TERMINATED(r->network))
        WHY("a string field is not NUL-terminated within its size");
    if (ptap_ifname_check(r->name, true, why) < 0)
        return -EINVAL;
    if (*r->id && ptap_tag_check(r->id, why) < 0)
        return -EINVAL;
    if (*r->batch && ptap_tag_check(r->batch, why) < 0)
        return -EINVAL;
    if (record_is_batch(r) && !*r->batch && !*r->id)
        WHY("a batch record (count > 0 or a template name) needs a batch or an op id");
    if ((unsigned) r->state >= PTAP_STATE__MAX)
        WHY("unknown state");
    if (r->ifindex < 0)
        WHY("negative ifindex");
    if (*r->bridge && ptap_ifname_check(r->bridge, false, why) < 0)
        return -EINVAL;
    if (*r->mac && ptap_mac_parse(r->mac, mac, why) < 0)
        return -EINVAL;
    if (*r->network && (!text_ok(r->network) || strchr(r->network, '/')))
        WHY("a network name is not valid UTF-8, or contains a control character or '/'");
    if (*r->network && !*r->bridge)
        WHY("a network without its bridge");
    if (r->mtu != 0 && (r->mtu < PTAP_MTU_MIN || r->mtu > PTAP_MTU_MAX))
        WHY("MTU out of range (68..65521, or 0 for the default)");
    if (r->flags & ~PTAP_TAP__ALL)
        WHY("unknown flag bits");
    if ((r->netns.dev == 0) != (r->netns.ino == 0))
        WHY("netns-dev and netns-ino go together");
    if (*r->netns.name && !ptap_netns_known(&r->netns))
        WHY("a netns-name without netns-dev and netns-ino");
    if (*r->netns.name && ptap_netns_name_check(r->netns.name, why) < 0)
        return -EINVAL;
    if (r->created < 0 || r->created > TIME_MAX_SECONDS || r->updated < 0 ||
        r->updated > TIME_MAX_SECONDS)
        WHY("time out of range (1970..9999)");

    if ((unsigned) c->kind >= PTAP_CONSUMER__MAX)
        WHY("unknown consumer kind");
    if (c->kind == PTAP_CONSUMER_NONE) {
        if (!consumer_is_empty(c))
            WHY("consumer fields set with consumer kind 'none'");
        return 0;
    }
    if (!TERMINATED(c->target) || !TERMINATED(c->name) || !TERMINATED(c->uri) ||
        !TERMINATED(c->method) || !TERMINATED(c->netdev_id) || !TERMINATED(c->device_id) ||
        !TERMINATED(c->model) || !TERMINATED(c->mac) || !TERMINATED(c->pci_addr) ||
        !TERMINATED(c->bus))
        WHY("a consumer string field is not NUL-terminated within its size");
    if (!text_ok(c->target) || !text_ok(c->name) || !text_ok(c->uri) || !text_ok(c->method) ||
        !text_ok(c->model) || !text_ok(c->pci_addr))
        WHY("a consumer field is not valid UTF-8 or contains a control character");
    if (*c->netdev_id && ptap_qemu_id_check(c->netdev_id, why) < 0)
        return -EINVAL;
    if (*c->device_id && ptap_qemu_id_check(c->device_id, why) < 0)
        return -EINVAL;
    if (*c->bus && ptap_qemu_id_check(c->bus, why) < 0)
        return -EINVAL;
    if (*c->mac && ptap_mac_parse(c->mac, mac, why) < 0)
        return -EINVAL;
    if (c->pid < 0)
        WHY("negative consumer pid");
    return 0;
#undef WHY
}

/* ------------------------------------------------------------------ */
/* Times: ISO-8601 UTC, whole seconds ("2024-05-01T12:34:56Z"). */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's days_from_civil, proleptic Gregorian. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned) (y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

static void time_format(time_t t, char buf[32])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int time_parse(const char *s, time_t *out)
{
    static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    unsigned v[6] = { 0 };
    int idx = 0;

    if (strlen(s) != sizeof(shape) - 1)
        return -EINVAL;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd') {
            if (s[i] < '0' || s[i] > '9')
                return -EINVAL;
            v[idx] = v[idx] * 10 + (unsigned) (s[i] - '0');
        } else if (s[i] != shape[i]) {
            return -EINVAL;
        } else {
            idx++;
        }
    }
    /* v: year month day hour minute second */
    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1] ||
        v[3] > 23 || v[4] > 59 || v[5] > 59)
        return -EINVAL;
    if (v[1] == 2 && v[2] == 29 && !((v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0))
        return -EINVAL;
    *out = (time_t) (days_from_civil(v[0], v[1], v[2]) * 86400 + v[3] * 3600 + v[4] * 60 + v[5]);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The field table: one description drives formatting and parsing, so the
 * two cannot drift apart. Optional fields are omitted when zero/empty
 * (group when (gid_t) -1). */

typedef enum ftype {
    F_TEXT,  /* char array */
    F_U64,   /* uint64_t */
    F_UINT,  /* unsigned */
    F_INT,   /* int, >= 0 */
    F_PID,   /* pid_t, >= 0 */
    F_UID,   /* uid_t */
    F_GID,   /* gid_t, omitted when (gid_t) -1 */
    F_TIME,  /* time_t */
    F_STATE, /* ptap_state */
    F_KIND,  /* ptap_consumer_kind */
    F_FLAGS, /* PTAP_TAP_* as words */
} ftype;

typedef struct field {
    const char *attr;
    ftype type;
    size_t off, size;
    bool required;
} field;

#define RF(a, t, m, req) { a, t, offsetof(ptap_record, m), sizeof(((ptap_record *) 0)->m), req }
#define CF(a, t, m, req) { a, t, offsetof(ptap_consumer, m), sizeof(((ptap_consumer *) 0)->m), req }

static const field record_fields[] = {
    RF("seq", F_U64, seq, true),          RF("id", F_TEXT, id, false),
    RF("name", F_TEXT, name, true),       RF("state", F_STATE, state, true),
    RF("batch", F_TEXT, batch, false),    RF("count", F_UINT, count, false),
    RF("ifindex", F_INT, ifindex, false), RF("owner", F_UID, owner, true),
    RF("group", F_GID, group, false),     RF("bridge", F_TEXT, bridge, false),
    RF("network", F_TEXT, network, false),
    RF("mac", F_TEXT, mac, false),        RF("mtu", F_UINT, mtu, false),
    RF("flags", F_FLAGS, flags, false),   RF("created", F_TIME, created, true),
    RF("updated", F_TIME, updated, true),
    RF("netns-dev", F_U64, netns.dev, false), RF("netns-ino", F_U64, netns.ino, false),
    RF("netns-name", F_TEXT, netns.name, false),
};

static const field consumer_fields[] = {
    CF("kind", F_KIND, kind, true),         CF("target", F_TEXT, target, false),
    CF("name", F_TEXT, name, false),        CF("uri", F_TEXT, uri, false),
    CF("method", F_TEXT, method, false),    CF("pid", F_PID, pid, false),
    CF("pid-start", F_U64, pid_start, false), CF("netdev", F_TEXT, netdev_id, false),
    CF("device", F_TEXT, device_id, false), CF("model", F_TEXT, model, false),
    CF("mac", F_TEXT, mac, false),          CF("pci-addr", F_TEXT, pci_addr, false),
    CF("vlan", F_UINT, vlan, false),        CF("queues", F_UINT, queues, false),
    CF("bus", F_TEXT, bus, false),
};

static int set_prop(xmlNodePtr node, const char *name, const char *value)
{
    return xmlNewProp(node, BAD_CAST name, BAD_CAST value) ? 0 : -ENOMEM;
}

/* Append ' NAME="VALUE"' to @line, VALUE escaped as libxml2 escapes an
 * attribute value (the text was checked first: UTF-8, no control
 * characters but those escaped here). A record is formatted this way, not
 * through a node of libxml2's and xmlNodeDump(): the same bytes, without
 * an allocation per attribute (a third of a 1000-tap command's own time). */
static int attr_put(xmlBufferPtr line, const char *name, const char *value)
{
    const char *run = value;
    int r = 0;

    r |= xmlBufferCCat(line, " ");
    r |= xmlBufferCCat(line, name);
    r |= xmlBufferCCat(line, "=\"");
    for (const char *p = value; *p; p++) {
        const char *esc;

        switch (*p) {
        case '<': esc = "&lt;"; break;
        case '>': esc = "&gt;"; break;
        case '&': esc = "&amp;"; break;
        case '"': esc = "&quot;"; break;
        case '\n': esc = "&#10;"; break;
        case '\r': esc = "&#13;"; break;
        case '\t': esc = "&#9;"; break;
        default: continue;
        }
        if (p > run)
            r |= xmlBufferAdd(line, BAD_CAST run, (int) (p - run));
        r |= xmlBufferCCat(line, esc);
        run = p + 1;
    }
    if (*run)
        r |= xmlBufferCCat(line, run);
    r |= xmlBufferCCat(line, "\"");
    return r ? -ENOMEM : 0;
}

/* Format one field of @base as an attribute on @line (or nothing). */
static int field_format(xmlBufferPtr line, const field *f, const void *base)
{
    const char *p = (const char *) base + f->off;
    char buf[160];
    uint64_t u;

    switch (f->type) {
    case F_TEXT:
        if (!*p && !f->required)
            return 0;
        return attr_put(line, f->attr, p);
    case F_U64:
        memcpy(&u, p, sizeof(u));
        break;
    case F_UINT: {
        unsigned v;
        memcpy(&v, p, sizeof(v));
        u = v;
        break;
    }
    case F_INT:
    case F_PID: {
        int v;
        memcpy(&v, p, sizeof(v));
        u = (uint64_t) v;
        break;
    }
    case F_UID:
    case F_GID: {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        if (f->type == F_GID && v == (uint32_t) -1)
            return 0;
        snprintf(buf, sizeof(buf), "%" PRIu32, v);
        return attr_put(line, f->attr, buf);
    }
    case F_TIME: {
        time_t t;
        memcpy(&t, p, sizeof(t));
        time_format(t, buf);
        return attr_put(line, f->attr, buf);
    }
    case F_STATE: {
        ptap_state s;
        memcpy(&s, p, sizeof(s));
        return attr_put(line, f->attr, ptap_state_to_string(s));
    }
    case F_KIND: {
        ptap_consumer_kind k;
        memcpy(&k, p, sizeof(k));
        return attr_put(line, f->attr, ptap_consumer_kind_to_string(k));
    }
    case F_FLAGS: {
        unsigned v;
        size_t len = 0;
        memcpy(&v, p, sizeof(v));
        if (!v)
            return 0;
        buf[0] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++)
            if (v & flag_names[i].bit)
                len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s%s", len ? " " : "",
                                         flag_names[i].name);
        return attr_put(line, f->attr, buf);
    }
    default:
        return -EINVAL;
    }
    if (!u && !f->required)
        return 0;
    snprintf(buf, sizeof(buf), "%" PRIu64, u);
    return attr_put(line, f->attr, buf);
}

/* Parse @value into field @f of @base. Sets *why on failure. */
static int field_parse(const field *f, void *base, const char *value, const char **why)
{
    char *p = (char *) base + f->off;
    uint64_t u;
    int r;

    switch (f->type) {
    case F_TEXT:
        if (strlen(value) >= f->size) {
            *why = "value too long";
            return -EINVAL;
        }
        if (!text_ok(value)) {
            *why = "value contains a control character";
            return -EINVAL;
        }
        memcpy(p, value, strlen(value) + 1);
        return 0;
    case F_U64:
        r = ptap_parse_uint(value, 0, UINT64_MAX, &u);
        if (r < 0)
            break;
        memcpy(p, &u, sizeof(u));
        return 0;
    case F_UINT:
        r = ptap_parse_uint(value, 0, UINT_MAX, &u);
        if (r < 0)
            break;
        memcpy(p, &(unsigned) { (unsigned) u }, sizeof(unsigned));
        return 0;
    case F_INT:
    case F_PID:
        r = ptap_parse_uint(value, 0, INT_MAX, &u);
        if (r < 0)
            break;
        memcpy(p, &(int) { (int) u }, sizeof(int));
        return 0;
    case F_UID:
    case F_GID:
        r = ptap_parse_uint(value, 0, UINT32_MAX, &u);
        if (r < 0)
            break;
        memcpy(p, &(uint32_t) { (uint32_t) u }, sizeof(uint32_t));
        return 0;
    case F_TIME: {
        time_t t;
        if (time_parse(value, &t) < 0) {
            *why = "not an ISO-8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)";
            return -EINVAL;
        }
        memcpy(p, &t, sizeof(t));
        return 0;
    }
    case F_STATE: {
        int s = ptap_state_from_string(value);
        if (s < 0) {
            *why = "unknown state";
            return -EINVAL;
        }
        memcpy(p, &(ptap_state) { (ptap_state) s }, sizeof(ptap_state));
        return 0;
    }
    case F_KIND: {
        int k = ptap_consumer_kind_from_string(value);
        if (k <= PTAP_CONSUMER_NONE) {
            *why = "unknown consumer kind";
            return -EINVAL;
        }
        memcpy(p, &(ptap_consumer_kind) { (ptap_consumer_kind) k }, sizeof(ptap_consumer_kind));
        return 0;
    }
    case F_FLAGS: {
        unsigned v = 0;
        const char *s = value;

        while (*s) {
            size_t n = strcspn(s, " ");
            size_t i;

            for (i = 0; i < ARRAY_SIZE(flag_names); i++)
                if (strlen(flag_names[i].name) == n && strncmp(s, flag_names[i].name, n) == 0)
                    break;
            if (i == ARRAY_SIZE(flag_names) || (v & flag_names[i].bit)) {
                *why = "unknown or repeated flag";
                return -EINVAL;
            }
            v |= flag_names[i].bit;
            s += n;
            if (*s == ' ' && *++s == '\0') {
                *why = "trailing space in flags";
                return -EINVAL;
            }
        }
        memcpy(p, &v, sizeof(v));
        return 0;
    }
    default:
        *why = "internal error";
        return -EINVAL;
    }
    *why = r == -ERANGE ? "number out of range" : "not a number";
    return -EINVAL;
}

static void field_default(const field *f, void *base)
{
    if (f->type == F_GID)
        memcpy((char *) base + f->off, &(uint32_t) { (uint32_t) -1 }, sizeof(uint32_t));
}

/* ------------------------------------------------------------------ */
/* Formatting */

static int fields_format(xmlBufferPtr line, const field *fields, size_t n, const void *base)
{
    for (size_t i = 0; i < n; i++) {
        int r = field_format(line, &fields[i], base);
        if (r < 0)
            return r;
    }
    return 0;
}

static xmlDocPtr format_doc_new(void)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");

    /* With an encoding set, libxml2 writes non-ASCII text as UTF-8
     * instead of character references (the text was checked first). */
    if (doc)
        doc->encoding = xmlStrdup(BAD_CAST "UTF-8");
    return doc;
}

/* Append one record, as one sealed line, to @out; @line is scratch. An
 * element "<tap .../>", or "<tap ...><consumer .../></tap>": no
 * newlines (escaped in values), so a record is exactly one line. */
static int record_format(xmlBufferPtr out, xmlBufferPtr line, const ptap_record *rec)
{
    int r;

    xmlBufferEmpty(line);
    if (xmlBufferCCat(line, RECORD_START) != 0)
        return -ENOMEM;
    r = fields_format(line, record_fields, ARRAY_SIZE(record_fields), rec);
    if (r < 0)
        return r;
    if (rec->consumer.kind != PTAP_CONSUMER_NONE) {
        if (xmlBufferCCat(line, "><consumer") != 0)
            return -ENOMEM;
        r = fields_format(line, consumer_fields, ARRAY_SIZE(consumer_fields), &rec->consumer);
        if (r < 0)
            return r;
        if (xmlBufferCCat(line, "/></tap>") != 0)
            return -ENOMEM;
    } else if (xmlBufferCCat(line, "/>") != 0) {
        return -ENOMEM;
    }
    return line_seal(out, (const char *) xmlBufferContent(line), (size_t) xmlBufferLength(line),
                     RECORD_START);
}

/* The header line: an unclosed start tag. libxml2 formats the element
 * (empty, so "<ptap-journal .../>"); the "/>" becomes ">". */
static int header_format(xmlBufferPtr out, xmlDocPtr doc, const char *id, uint64_t next_seq)
{
    _cleanup_(xmlFreeNodep) xmlNodePtr node = NULL;
    _cleanup_(xmlBufferFreep) xmlBufferPtr tmp = NULL;
    _cleanup_free_ char *line = NULL;
    char num[24];
    const char *s;
    int len;

    node = xmlNewDocNode(doc, NULL, BAD_CAST ROOT_NAME, NULL);
    tmp = xmlBufferCreate();
    if (!node || !tmp)
        return -ENOMEM;
    snprintf(num, sizeof(num), "%d", PTAP_JOURNAL_VERSION);
    if (set_prop(node, "version", num) < 0 || set_prop(node, "id", id) < 0)
        return -ENOMEM;
    snprintf(num, sizeof(num), "%" PRIu64, next_seq);
    if (set_prop(node, "next-seq", num) < 0)
        return -ENOMEM;
    if (xmlNodeDump(tmp, doc, node, 0, 0) < 0)
        return -ENOMEM;
    s = (const char *) xmlBufferContent(tmp);
    len = xmlBufferLength(tmp);
    if (len < 2 || strcmp(s + len - 2, "/>") != 0)
        return -EIO;
    /* "<ptap-journal .../>" -> "<ptap-journal ...>", sealed. */
    line = malloc((size_t) len);
    if (!line)
        return -ENOMEM;
    memcpy(line, s, (size_t) len - 2);
    line[len - 2] = '>';
    return line_seal(out, line, (size_t) len - 1, HEADER_START);
}

/* ------------------------------------------------------------------ */
/* The live state */

static ptap_journal *journal_new(void)
{
    ptap_journal *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->dirfd = j->lockfd = j->fd = -1;
    j->next_seq = 1;
    j->version = PTAP_JOURNAL_VERSION;
    j->keys = xmlHashCreate(64);
    if (!j->keys) {
        free(j);
        return NULL;
    }
    return j;
}

static void entry_free(void *payload, const xmlChar *name)
{
    (void) name;
    free(payload);
}

static void live_clear(ptap_journal *j)
{
    xmlHashFree(j->keys, entry_free);
    j->keys = NULL;
    free(j->order);
    j->order = NULL;
    j->n_order = j->cap_order = j->n_live = 0;
    j->batch_head = j->batch_tail = NULL;
}

/* Squeeze the closed slots out of the creation order. O(live). */
static void order_densify(ptap_journal *j)
{
    size_t k = 0;

    if (j->n_order == j->n_live)
        return;
    for (size_t i = 0; i < j->n_order; i++)
        if (j->order[i]) {
            j->order[k] = j->order[i];
            j->order[k]->pos = k;
            k++;
        }
    j->n_order = k;
}

static void entry_remove(ptap_journal *j, entry *e)
{
    j->order[e->pos] = NULL;
    j->n_live--;
    if (e->batch) {
        if (e->bprev)
            e->bprev->bnext = e->bnext;
        else
            j->batch_head = e->bnext;
        if (e->bnext)
            e->bnext->bprev = e->bprev;
        else
            j->batch_tail = e->bprev;
    }
    xmlHashRemoveEntry(j->keys, BAD_CAST e->key, entry_free);
    /* Amortised O(1): densify only once the holes outnumber the live. */
    if (j->n_order - j->n_live > 64 && j->n_order - j->n_live > j->n_live)
        order_densify(j);
}

/* Fold one (checked) record into the live state: last record per key
 * wins, DESTROYED closes the key. */
static int fold(ptap_journal *j, const ptap_record *rec)
{
    char key[KEY_MAX];
    entry *e;

    record_key(rec, key);
    e = xmlHashLookup(j->keys, BAD_CAST key);
    if (rec->state == PTAP_STATE_DESTROYED) {
        if (e)
            entry_remove(j, e);
        return 0;
    }
    if (e) {
        e->rec = *rec;
        return 0;
    }
    if (j->n_order == j->cap_order) {
        size_t cap = j->cap_order ? 2 * j->cap_order : 64;
        entry **o = reallocarray(j->order, cap, sizeof(*o));
        if (!o)
            return -ENOMEM;
        j->order = o;
        j->cap_order = cap;
    }
    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->rec = *rec;
    memcpy(e->key, key, sizeof(key));
    e->batch = record_is_batch(rec);
    if (xmlHashAddEntry(j->keys, BAD_CAST e->key, e) != 0) {
        free(e);
        return -ENOMEM;
    }
    e->pos = j->n_order;
    j->order[j->n_order++] = e;
    j->n_live++;
    if (e->batch) {
        e->bprev = j->batch_tail;
        if (j->batch_tail)
            j->batch_tail->bnext = e;
        else
            j->batch_head = e;
        j->batch_tail = e;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parsing
 *
 * Replay streams the journal through libxml2's SAX2 interface: no tree is
 * built, each record is checked and folded as its end tag is read. (The
 * tree is built only for RelaxNG validation, in doc_parse().) Entity
 * substitution is safe to turn on because the image must start with the
 * root element: no DOCTYPE, so only the five predefined entities and
 * character references exist. */

/* The text of the parse: "header + complete records + closing tag". */
static int doc_text(const char *buf, size_t len, const char *src, char **ret, int *ret_len,
                    ptap_error *err)
{
    size_t n = len + sizeof(CLOSE_TAG) - 1;
    char *text;

    if (n > INT_MAX)
        return fail(err, -EFBIG, "journal '%s' is too large (%zu bytes)", src, len);
    text = malloc(n);
    if (!text)
        return -ENOMEM;
    memcpy(text, buf, len);
    memcpy(text + len, CLOSE_TAG, sizeof(CLOSE_TAG) - 1);
    *ret = text;
    *ret_len = (int) n;
    return 0;
}

/* No network, no error printing (libptap never prints), predefined
 * entities and character references decoded, line numbers past 65535. */
#define PARSE_OPTIONS \
    (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOENT | XML_PARSE_BIG_LINES)

static int parse_error(xmlParserCtxtPtr ctxt, const char *src, ptap_error *err)
{
    const xmlError *e = xmlCtxtGetLastError(ctxt);
    char msg[256] = "not well-formed XML";
    size_t m;

    if (e && e->message) {
        snprintf(msg, sizeof(msg), "%s", e->message);
        m = strlen(msg);
        while (m > 0 && (msg[m - 1] == '\n' || msg[m - 1] == ' '))
            msg[--m] = '\0';
    }
    return fail(err, -EBADMSG, "journal '%s' line %d: damaged record: %s", src, e ? e->line : 0,
                msg);
}

/* Parse into a tree (for the schema). */
static int doc_parse(const char *buf, size_t len, const char *src, xmlDocPtr *ret,
                     ptap_error *err)
{
    _cleanup_(xmlFreeParserCtxtp) xmlParserCtxtPtr ctxt = NULL;
    _cleanup_free_ char *text = NULL;
    xmlDocPtr doc;
    int n = 0, r;

    r = doc_text(buf, len, src, &text, &n, err);
    if (r < 0)
        return r;
    ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return -ENOMEM;
    doc = xmlCtxtReadMemory(ctxt, text, n, NULL, "UTF-8", PARSE_OPTIONS);
    if (!doc)
        return parse_error(ctxt, src, err);
    *ret = doc;
    return 0;
}

/* Locate the complete part of a journal image: the header line must be
 * there and start the file; *complete = bytes up to the last newline. */
static int image_split(const char *buf, size_t len, const char *src, size_t *complete,
                       ptap_error *err)
{
    static const char magic[] = "<" ROOT_NAME;
    const size_t m = sizeof(magic) - 1;
    const char *nl;

    if (len == 0)
        return fail(err, -EBADMSG, "journal '%s' is empty (no header)", src);
    /* Starting with the root element also rules out a DOCTYPE, hence
     * entity declarations (no billion laughs, no external entities). */
    if (memcmp(buf, magic, len < m ? len : m) != 0 ||
        (len > m && buf[m] != ' ' && buf[m] != '>'))
        return fail(err, -EBADMSG,
                    "journal '%s' is not a ptap journal (it does not start with '<%s')", src,
                    ROOT_NAME);
    nl = memrchr(buf, '\n', len);
    if (!nl)
        return fail(err, -EBADMSG, "journal '%s' has no complete header line (%zu bytes, torn)",
                    src, len);
    *complete = (size_t) (nl - buf) + 1;
    return 0;
}

/* Version 2: check the seal of every complete line of @text (@complete
 * bytes, the parser's copy of the image) and blank the crc attributes out
 * of it (spaces keep lines and columns), so that the parser sees the
 * fields only. Then the torn tail (@tail, @tail_len bytes): a torn write
 * leaves a prefix of a record, never a whole sealed record followed by a
 * byte that is not its newline; that is damage (one flipped bit in the
 * last newline), not a torn record to drop. A header without a seal is
 * version 1 (its header must then say so): nothing to check here.
 * Sets *sealed. */
static int lines_check(char *text, size_t complete, const char *tail, size_t tail_len,
                       const char *src, bool *sealed, ptap_error *err)
{
    static const char sealed_start[] = HEADER_START CRC_ATTR;
    uint32_t stored = 0, computed = 0;
    size_t off = 0;
    long line = 0;

    *sealed = complete >= sizeof(sealed_start) - 1 &&
              memcmp(text, sealed_start, sizeof(sealed_start) - 1) == 0;
    if (!*sealed)
        return 0;
    while (off < complete) {
        char *p = text + off, *nl = memchr(p, '\n', complete - off);
        size_t n = nl ? (size_t) (nl - p) : complete - off;
        const char *start = line == 0 ? HEADER_START : RECORD_START;
        const char *what = line == 0 ? "header" : "record";

        line++;
        switch (line_unseal(p, n, start, &stored, &computed)) {
        case SEAL_OK:
            break;
        case SEAL_MISSING:
            return fail(err, -EBADMSG,
                        "journal '%s' line %ld: damaged %s: no checksum (every line of a "
                        "version %d journal starts with '%s crc=\"...\"')",
                        src, line, what, PTAP_JOURNAL_VERSION, start);
        case SEAL_MISMATCH:
            return fail(err, -EBADMSG,
                        "journal '%s' line %ld: damaged %s: checksum mismatch (the line says "
                        "crc %08" PRIx32 ", its bytes give %08" PRIx32 ")",
                        src, line, what, stored, computed);
        }
        memset(p + strlen(start), ' ', CRC_ATTR_LEN);
        off += n + 1;
    }
    /* A record ends in '>': try each one in the tail. */
    for (size_t n = 1; n < tail_len; n++)
        if (tail[n - 1] == '>' &&
            line_unseal(tail, n, RECORD_START, &stored, &computed) == SEAL_OK)
            return fail(err, -EBADMSG,
                        "journal '%s' line %ld: damaged record: it is whole, but ends in byte "
                        "0x%02x where its newline should be", src, line + 1,
                        (unsigned) (unsigned char) tail[n]);
    return 0;
}

/* SAX2 attributes: 5 pointers each (localname, prefix, URI, value, end). */
typedef struct sax_attr {
    const char *name;
    char value[PTAP_CONSUMER_TARGET_MAX * 2];
    bool too_long, in_ns;
} sax_attr;

static void sax_attr_get(const xmlChar **attrs, int i, sax_attr *a)
{
    const xmlChar *v = attrs[5 * i + 3], *end = attrs[5 * i + 4];
    size_t n = (size_t) (end - v);

    a->name = (const char *) attrs[5 * i];
    a->in_ns = attrs[5 * i + 1] || attrs[5 * i + 2];
    a->too_long = n >= sizeof(a->value);
    if (a->too_long)
        n = 0;
    memcpy(a->value, v, n);
    a->value[n] = '\0';
}

/* Parse SAX2 attributes into @base by @fields. */
static int fields_parse(const xmlChar **attrs, int n_attrs, const field *fields, size_t n,
                        void *base, const char **why, const char **what)
{
    bool seen[32] = { false };
    size_t next = 0; /* ptap writes the attributes in field order: look there first */
    sax_attr a;

    for (size_t i = 0; i < n; i++)
        field_default(&fields[i], base);
    for (int k = 0; k < n_attrs; k++) {
        size_t i = n, t;

        sax_attr_get(attrs, k, &a);
        *what = a.name;
        if (a.in_ns) {
            *why = "attribute in a namespace";
            return -EINVAL;
        }
        for (t = 0; t < n; t++) {
            size_t c = (next + t) % n;

            if (strcmp(a.name, fields[c].attr) == 0) {
                i = c;
                break;
            }
        }
        next = i + 1;
        if (i == n) {
            *why = "unknown attribute";
            return -EINVAL;
        }
        if (a.too_long) {
            *why = "value too long";
            return -EINVAL;
        }
        if (field_parse(&fields[i], base, a.value, why) < 0)
            return -EINVAL;
        seen[i] = true;
    }
    for (size_t i = 0; i < n; i++)
        if (fields[i].required && !seen[i]) {
            *what = fields[i].attr;
            *why = "required attribute missing";
            return -EINVAL;
        }
    *what = NULL;
    return 0;
}

typedef struct replay_state {
    ptap_journal *j;
    const char *src;
    xmlParserCtxtPtr ctxt;
    ptap_error *err; /* explains the first error */
    int error;       /* first error (negative), then the parse stops */
    int depth;       /* 1 inside the root, 2 inside a tap, 3 in a consumer */
    bool consumer;   /* this tap had its <consumer> */
    ptap_record rec; /* the record being read */
    long line;       /* its line */
    bool sealed;     /* the header carries a checksum: version 2 */
    uint64_t base, last;
    uint64_t max_op; /* highest N of an "op<N>" id or batch read */
    size_t n;
} replay_state;

static void replay_fail(replay_state *st, int code, const char *fmt, ...) _printf_(3, 4);
static void replay_fail(replay_state *st, int code, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    if (st->error)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    st->error = fail(st->err, code, "journal '%s' line %ld: %s", st->src,
                     (long) xmlSAX2GetLineNumber(st->ctxt), msg);
    xmlStopParser(st->ctxt);
}

static void replay_header(replay_state *st, const xmlChar **attrs, int n_attrs)
{
    bool have_id = false, have_version = false;
    sax_attr a;

    for (int k = 0; k < n_attrs; k++) {
        sax_attr_get(attrs, k, &a);
        if (!a.in_ns && strcmp(a.name, "version") == 0) {
            uint64_t v = 0;

            if (ptap_parse_uint(a.value, PTAP_JOURNAL_VERSION_MIN, PTAP_JOURNAL_VERSION, &v) < 0) {
                st->error = fail(st->err, -EPROTONOSUPPORT,
                                 "journal '%s' has format version '%.16s'; this ptap reads "
                                 "versions %d to %d only (a newer ptap wrote it, or it is not a "
                                 "ptap journal)", st->src, a.value, PTAP_JOURNAL_VERSION_MIN,
                                 PTAP_JOURNAL_VERSION);
                xmlStopParser(st->ctxt);
                return;
            }
            /* Version 1 has no checksums, version 2 has one on every line
             * (checked before the parse): the header must agree. */
            if (v == 1 && st->sealed)
                return replay_fail(st, -EBADMSG, "damaged header: version 1 with a checksum");
            if (v >= 2 && !st->sealed)
                return replay_fail(st, -EBADMSG, "damaged header: version %" PRIu64
                                   " without its checksum", v);
            st->j->version = (int) v;
            have_version = true;
        } else if (!a.in_ns && strcmp(a.name, "id") == 0) {
            if (strlen(a.value) != PTAP_JOURNAL_ID_LEN ||
                strspn(a.value, "0123456789abcdef") != PTAP_JOURNAL_ID_LEN)
                return replay_fail(st, -EBADMSG, "damaged header: id '%.32s' is not %d "
                                   "lowercase hex digits", a.value, PTAP_JOURNAL_ID_LEN);
            memcpy(st->j->id, a.value, PTAP_JOURNAL_ID_LEN + 1);
            have_id = true;
        } else if (!a.in_ns && strcmp(a.name, "next-seq") == 0) {
            /* Up to one past the last seq there may be (then exhausted). */
            if (ptap_parse_uint(a.value, 1, PTAP_JOURNAL_SEQ_MAX + 1, &st->base) < 0)
                return replay_fail(st, -EBADMSG, "damaged header: bad next-seq '%.32s'", a.value);
        } else {
            return replay_fail(st, -EBADMSG, "damaged header: unknown attribute '%.32s'", a.name);
        }
    }
    if (!have_version)
        return replay_fail(st, -EBADMSG, "damaged header: no format version");
    if (!have_id)
        return replay_fail(st, -EBADMSG, "damaged header: no journal id");
}

/* An id "op<N>" (what ptap_journal_new_id() hands out) was read: the
 * counter must get past N, whatever the header says. A number too large
 * to count past exhausts the counter. */
static void op_seen(replay_state *st, const char *id)
{
    uint64_t v;
    int r;

    if (strncmp(id, "op", 2) != 0 || !id[2] || strspn(id + 2, "0123456789") != strlen(id + 2))
        return;
    r = ptap_parse_uint(id + 2, 0, PTAP_JOURNAL_SEQ_MAX, &v);
    if (r == -ERANGE)
        v = PTAP_JOURNAL_SEQ_MAX;
    else if (r < 0)
        return;
    if (v > st->max_op)
        st->max_op = v;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                     const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                     int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    replay_state *st = ctx;
    const char *name = (const char *) localname, *why = NULL, *what = NULL;
    int depth = st->depth++;

    (void) namespaces;
    (void) nb_defaulted;
    if (st->error)
        return;
    if (prefix || uri || nb_namespaces)
        return replay_fail(st, -EBADMSG, "damaged: namespaces are not used in a journal");
    if (depth == 0) {
        if (strcmp(name, ROOT_NAME) != 0)
            return replay_fail(st, -EBADMSG, "not a ptap journal (root element '%.32s')", name);
        return replay_header(st, attributes, nb_attributes);
    }
    if (depth == 1 && strcmp(name, "tap") == 0) {
        memset(&st->rec, 0, sizeof(st->rec));
        st->consumer = false;
        st->line = xmlSAX2GetLineNumber(st->ctxt);
        if (fields_parse(attributes, nb_attributes, record_fields, ARRAY_SIZE(record_fields),
                         &st->rec, &why, &what) < 0)
            goto bad;
        return;
    }
    if (depth == 2 && strcmp(name, "consumer") == 0 && !st->consumer) {
        st->consumer = true;
        if (fields_parse(attributes, nb_attributes, consumer_fields, ARRAY_SIZE(consumer_fields),
                         &st->rec.consumer, &why, &what) < 0)
            goto bad;
        return;
    }
    return replay_fail(st, -EBADMSG, "damaged: unexpected element '%.32s'%s", name,
                       depth == 2 ? " in <tap> (one <consumer> at most)" : "");
bad:
    replay_fail(st, -EBADMSG, "damaged record: %s%s%.32s%s", why, what ? " ('" : "",
                what ? what : "", what ? "')" : "");
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    replay_state *st = ctx;
    const char *why = NULL;
    int r;

    (void) localname;
    (void) prefix;
    (void) uri;
    if (--st->depth != 1 || st->error)
        return;
    /* A whole <tap> has been read. */
    if (st->rec.seq == 0)
        return replay_fail(st, -EBADMSG, "damaged record: seq starts at 1");
    if (st->rec.seq > PTAP_JOURNAL_SEQ_MAX)
        return replay_fail(st, -EBADMSG, "damaged record: seq %" PRIu64 " is past the last one "
                           "(%" PRIu64 ")", st->rec.seq, PTAP_JOURNAL_SEQ_MAX);
    if (record_check(&st->rec, &why) < 0)
        return replay_fail(st, -EBADMSG, "damaged record: %s", why);
    if (st->rec.seq <= st->last)
        return replay_fail(st, -EBADMSG, "damaged record: seq %" PRIu64 " does not follow %" PRIu64,
                           st->rec.seq, st->last);
    st->last = st->rec.seq;
    op_seen(st, st->rec.id);
    op_seen(st, st->rec.batch);
    r = fold(st->j, &st->rec);
    if (r < 0) {
        st->error = r;
        xmlStopParser(st->ctxt);
        return;
    }
    st->n++;
}

static void on_characters(void *ctx, const xmlChar *ch, int len)
{
    replay_state *st = ctx;

    for (int i = 0; i < len; i++)
        if (st->depth != 1 || !strchr(" \t\r\n", ch[i]) || !ch[i])
            return replay_fail(st, -EBADMSG, "damaged: unexpected text%s",
                               st->depth == 1 ? " between records" : " in a record");
}

static void on_cdata(void *ctx, const xmlChar *value, int len)
{
    (void) value;
    (void) len;
    replay_fail(ctx, -EBADMSG, "damaged: unexpected CDATA section");
}

static void on_comment(void *ctx, const xmlChar *value)
{
    (void) value;
    replay_fail(ctx, -EBADMSG, "damaged: unexpected comment");
}

static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    (void) target;
    (void) data;
    replay_fail(ctx, -EBADMSG, "damaged: unexpected processing instruction");
}

static void on_reference(void *ctx, const xmlChar *name)
{
    (void) name;
    replay_fail(ctx, -EBADMSG, "damaged: unknown entity reference");
}

/* Replay a journal image into @j. Sets *complete to the length of the
 * part that was used (the rest is a torn record). */
static int replay(ptap_journal *j, const char *buf, size_t len, const char *src, size_t *complete,
                  ptap_error *err)
{
    _cleanup_free_ char *text = NULL;
    xmlSAXHandler sax = {
        .initialized = XML_SAX2_MAGIC,
        .startElementNs = on_start,
        .endElementNs = on_end,
        .characters = on_characters,
        .ignorableWhitespace = on_characters,
        .cdataBlock = on_cdata,
        .comment = on_comment,
        .processingInstruction = on_pi,
        .reference = on_reference,
    };
    replay_state st = { .j = j, .src = src, .err = err, .base = 1 };
    xmlParserCtxtPtr ctxt;
    int n = 0, r;

    r = image_split(buf, len, src, complete, err);
    if (r < 0)
        return r;
    r = doc_text(buf, *complete, src, &text, &n, err);
    if (r < 0)
        return r;
    r = lines_check(text, *complete, buf + *complete, len - *complete, src, &st.sealed, err);
    if (r < 0)
        return r;
    /* A push parser takes the handler and user data whole; one chunk. */
    ctxt = xmlCreatePushParserCtxt(&sax, &st, NULL, 0, NULL);
    if (!ctxt)
        return -ENOMEM;
    st.ctxt = ctxt;
    xmlCtxtUseOptions(ctxt, PARSE_OPTIONS);
    (void) xmlParseChunk(ctxt, text, n, 1);
    if (!st.error && !ctxt->wellFormed)
        st.error = parse_error(ctxt, src, err);
    if (ctxt->myDoc) /* not built by these handlers; be sure */
        xmlFreeDoc(ctxt->myDoc);
    ctxt->myDoc = NULL;
    xmlFreeParserCtxt(ctxt);
    if (st.error)
        return st.error;
    j->log_records = st.n;
    /* Past every seq and every op number on record (st.last and st.max_op
     * are at most PTAP_JOURNAL_SEQ_MAX: no overflow). */
    j->next_seq = st.last + 1 > st.base ? st.last + 1 : st.base;
    if (st.max_op + 1 > j->next_seq)
        j->next_seq = st.max_op + 1;
    if (*complete < len)
        ptap_debug("journal '%s': dropping a torn last record (%zu bytes)", src, len - *complete);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Files */

/* A state file or directory must be ours, of the right type, and not
 * writable by anybody else. */
static int check_owner(int fd, mode_t type, const char *what, const char *path, ptap_error *err)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return negative_errno();
    if ((st.st_mode & S_IFMT) != type)
        return fail(err, type == S_IFDIR ? -ENOTDIR : -EPERM, "refusing %s '%s': not a %s", what,
                    path, type == S_IFDIR ? "directory" : "regular file");
    if (st.st_uid != geteuid())
        return fail(err, -EPERM, "refusing %s '%s': owned by uid %u, not by uid %u", what, path,
                    (unsigned) st.st_uid, (unsigned) geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return fail(err, -EPERM, "refusing %s '%s': writable by group or others (mode %04o)",
                    what, path, (unsigned) (st.st_mode & 07777));
    return 0;
}

/* openat() with O_NOFOLLOW, turning "it is a symlink" into -EPERM. */
static int open_nofollow(int dirfd, const char *name, int flags, mode_t mode, const char *what,
                         const char *path, ptap_error *err)
{
    /* O_NONBLOCK: a FIFO put in the journal's place must not block the
     * open (check_owner() then refuses anything but a regular file). */
    int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, mode);
    struct stat st;

    int saved = errno;

    if (fd >= 0)
        return fd;
    if (saved == ELOOP || saved == ENOTDIR) {
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            return fail(err, -EPERM, "refusing %s '%s': it is a symbolic link", what, path);
    }
    return saved > 0 ? -saved : -EIO;
}

/* ------------------------------------------------------------------ */
/* The space reserve: journal.reserve, a preallocated file that is given
 * back to the file system when a recovery or a compaction runs out of
 * room, and made again when there is room (docs/journal.md, "Running out
 * of space"). Best effort throughout: a state directory where it cannot
 * be made works as before, without it. */

static off_t reserve_want(const ptap_journal *j)
{
    uint64_t want = RESERVE_MIN + (uint64_t) RESERVE_PER_LIVE * j->n_live;

    want = (want + RESERVE_ROUND - 1) / RESERVE_ROUND * RESERVE_ROUND;
    return want > (uint64_t) INT64_MAX / 4 ? INT64_MAX / 4 : (off_t) want;
}

/* Make the reserve, or bring it to its size. */
static void reserve_make(ptap_journal *j)
{
    _cleanup_close_ int fd = -1;
    off_t want = reserve_want(j);
    struct stat st;
    int r;

    fd = openat(j->dirfd, JOURNAL_RESERVE,
                O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600);
    if (fd < 0) {
        ptap_debug("journal '%s': no space reserve: %s", j->path, strerror(errno));
        return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        ptap_debug("journal '%s': '%s' is not a reserve of ours, ignoring", j->path,
                   JOURNAL_RESERVE);
        return;
    }
    if (st.st_size >= want && st.st_size <= 2 * want)
        return;
    if (st.st_size > 2 * want) {
        (void) ftruncate(fd, want); /* many taps were destroyed: give some back */
        return;
    }
    r = posix_fallocate(fd, 0, want);
    if (r == ENOSPC) {
        /* Not the room for all of it: as much as there is. What the file
         * system has left then goes to recovery, not to the next create. */
        struct statvfs sv;
        off_t room;

        (void) ftruncate(fd, st.st_size);
        room = fstatvfs(fd, &sv) == 0 ? (off_t) (sv.f_bavail * sv.f_frsize) : 0;
        want = (st.st_size + room) / 4096 * 4096;
        r = want > st.st_size ? posix_fallocate(fd, 0, want) : ENOSPC;
    }
    if (r != 0) {
        (void) ftruncate(fd, st.st_size); /* keep what was there */
        if (st.st_size == 0)
            (void) unlinkat(j->dirfd, JOURNAL_RESERVE, 0);
        ptap_debug("journal '%s': cannot make a space reserve of %lld bytes: %s", j->path,
                   (long long) want, strerror(r));
        return;
    }
    ptap_debug("journal '%s': space reserve of %lld bytes", j->path, (long long) want);
}

/* Give the reserve back to the file system. Returns true when that freed
 * something (then a write that ran out of space is worth trying again). */
static bool reserve_release(ptap_journal *j)
{
    struct stat st;

    if (j->dirfd < 0 || fstatat(j->dirfd, JOURNAL_RESERVE, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_size == 0)
        return false;
    if (unlinkat(j->dirfd, JOURNAL_RESERVE, 0) < 0)
        return false;
    ptap_debug("journal '%s': out of space: released the %lld-byte reserve", j->path,
               (long long) st.st_size);
    return true;
}

/* Write @buf as the whole journal: temp file in the same directory,
 * fsync, rename over journal.xml, fsync of the directory. The old file
 * stays valid until the rename; a crash before it leaves a stale temp
 * file that the next writer removes. On success j->fd is the new file. */
static int replace_file(ptap_journal *j, const char *buf, size_t len, const char *fault_tmp,
                        const char *fault_renamed, const char *fault_done, ptap_error *err)
{
    _cleanup_close_ int fd = -1;
    int r;

    for (int attempt = 0;; attempt++) {
        if (unlinkat(j->dirfd, JOURNAL_TMP, 0) < 0 && errno != ENOENT)
            return fail(err, negative_errno(),
                        "cannot remove stale '%s' in the state directory: %s", JOURNAL_TMP,
                        strerror(errno));
        fd = openat(j->dirfd, JOURNAL_TMP, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600);
        r = fd < 0 ? negative_errno() : ptap_pwrite_all(fd, buf, len, 0);
        if (r >= 0 && fsync(fd) < 0)
            r = negative_errno();
        if (r >= 0)
            break;
        closep(&fd);
        (void) unlinkat(j->dirfd, JOURNAL_TMP, 0);
        /* A snapshot needs room for a copy of the live records until the
         * rename frees the old file: the reserve is there for this. */
        if (r == -ENOSPC && attempt == 0 && reserve_release(j))
            continue;
        return fail(err, r, "cannot write '%s' for '%s': %s", JOURNAL_TMP, j->path,
                    strerror(-r));
    }
    ptap_fault(fault_tmp);
    if (renameat(j->dirfd, JOURNAL_TMP, j->dirfd, JOURNAL_FILE) < 0) {
        r = negative_errno();
        (void) unlinkat(j->dirfd, JOURNAL_TMP, 0);
        return fail(err, r, "cannot rename '%s' to '%s': %s", JOURNAL_TMP, j->path,
                    strerror(-r));
    }
    ptap_fault(fault_renamed);
    /* From here the new file is the journal, synced or not: switch to it. */
    closep(&j->fd);
    j->fd = TAKE_FD(fd);
    j->size = (off_t) len;
    if (fsync(j->dirfd) < 0) {
        r = negative_errno();
        j->broken = true;
        return fail(err, r, "cannot sync the directory of '%s': %s", j->path, strerror(-r));
    }
    ptap_fault(fault_done);
    return 0;
}

/* Snapshot the live state: header, then the live records in creation
 * order, renumbered 1..n (the header carries the counter on). */
static int snapshot_format(ptap_journal *j, xmlBufferPtr out)
{
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = format_doc_new();
    _cleanup_(xmlBufferFreep) xmlBufferPtr line = xmlBufferCreate();
    int r;

    if (!doc || !line)
        return -ENOMEM;
    order_densify(j);
    r = header_format(out, doc, j->id, j->next_seq);
    for (size_t i = 0; r >= 0 && i < j->n_order; i++) {
        ptap_record rec = j->order[i]->rec;

        rec.seq = i + 1;
        r = record_format(out, line, &rec);
    }
    return r;
}

static int compact(ptap_journal *j, const char *fault_tmp, const char *fault_renamed,
                   const char *fault_done, ptap_error *err)
{
    _cleanup_(xmlBufferFreep) xmlBufferPtr out = xmlBufferCreate();
    int r;

    if (!out)
        return -ENOMEM;
    r = snapshot_format(j, out);
    if (r < 0)
        return r;
    r = replace_file(j, (const char *) xmlBufferContent(out), (size_t) xmlBufferLength(out),
                     fault_tmp, fault_renamed, fault_done, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < j->n_order; i++)
        j->order[i]->rec.seq = i + 1;
    j->log_records = j->n_order;
    j->version = PTAP_JOURNAL_VERSION;
    /* The old log is gone: room for the reserve again, most likely. */
    reserve_make(j);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The lock */

/* Who holds the flock on @fd: "pid N (its command line)" from
 * /proc/locks, into @buf. */
static void lock_holder(int fd, char *buf, size_t len)
{
    _cleanup_fclose_ FILE *f = NULL;
    char line[256];
    struct stat st;
    long first = 0;
    size_t others = 0;

    snprintf(buf, len, "another process (not in /proc/locks)");
    if (fd < 0 || fstat(fd, &st) < 0 || !(f = fopen("/proc/locks", "re")))
        return;
    while (fgets(line, sizeof(line), f)) {
        char type[16], mode[16], dev[40];
        unsigned long long ino;
        long pid;
        char *p = strchr(line, ':');

        /* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; a waiter's
         * line reads "1: -> FLOCK ..." and holds nothing. */
        if (!p || strstr(line, "->"))
            continue;
        if (sscanf(p + 1, "%15s %*15s %15s %ld %39s", type, mode, &pid, dev) != 4 ||
            strcmp(type, "FLOCK") != 0)
            continue;
        p = strrchr(dev, ':');
        if (!p || sscanf(p + 1, "%llu", &ino) != 1 || ino != (unsigned long long) st.st_ino)
            continue;
        /* The device too, when it reads the same (overlay and btrfs may
         * show another number for one file system). */
        {
            unsigned ma, mi;
            if (sscanf(dev, "%x:%x:", &ma, &mi) == 2 &&
                (ma != major(st.st_dev) || mi != minor(st.st_dev)) && ma != 0)
                continue;
        }
        if (pid <= 0)
            continue;
        if (!first)
            first = pid;
        else if (pid != first)
            others++;
    }
    if (!first)
        return;
    {
        char path[64], cmd[160] = "";
        _cleanup_free_ char *raw = NULL;
        size_t n = 0;

        snprintf(path, sizeof(path), "/proc/%ld/cmdline", first);
        if (ptap_read_file(path, 4096, &raw, &n) == 0 && n > 0) {
            /* NUL-separated arguments, shown with spaces. */
            size_t k = 0;
            for (size_t i = 0; i < n && k + 1 < sizeof(cmd); i++)
                cmd[k++] = raw[i] ? ((unsigned char) raw[i] < 0x20 ? '?' : raw[i]) : ' ';
            while (k > 0 && cmd[k - 1] == ' ')
                k--;
            cmd[k] = '\0';
            if (k + 1 >= sizeof(cmd) - 1)
                memcpy(cmd + sizeof(cmd) - 4, "...", 4);
        } else {
            free(raw);
            raw = NULL;
            snprintf(path, sizeof(path), "/proc/%ld/comm", first);
            if (ptap_read_file(path, 64, &raw, &n) == 0 && n > 0) {
                raw[strcspn(raw, "\n")] = '\0';
                snprintf(cmd, sizeof(cmd), "%s", raw);
            }
        }
        snprintf(buf, len, "pid %ld%s%s%s", first, *cmd ? " (" : "", cmd, *cmd ? ")" : "");
        if (others) {
            size_t m = strlen(buf);
            snprintf(buf + m, len - m, " and %zu other process%s", others, others > 1 ? "es" : "");
        }
    }
}

/* Take the flock on j->lockfd (LOCK_SH or LOCK_EX in @how), waiting as
 * @w says (NULL: as long as it takes). */
static int lock_wait(ptap_journal *j, int how, const ptap_journal_wait *w, ptap_error *err)
{
    _cleanup_close_ int ifd = -1;
    char holder[256];
    int64_t start = ptap_now_ms();
    bool noticed = false;

    if (!w) {
        while (flock(j->lockfd, how) < 0) {
            if (errno != EINTR)
                return fail(err, negative_errno(), "cannot lock journal '%s': %s", j->path,
                            strerror(errno));
        }
        return 0;
    }
    /* Free (the common case): taken without a watch, whose set-up and
     * close cost more than the rest of a small command (closing an
     * inotify instance waits for an SRCU grace period, ~10 ms). */
    if (flock(j->lockfd, how | LOCK_NB) == 0)
        return 0;
    /* Woken when a process closes the lock file (a holder releases it by
     * closing it, or by dying); and a look every LOCK_POLL_MS anyway. The
     * watch comes before the next try, so that a close just after a
     * refusal is seen. */
    ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ifd >= 0) {
        char self[64];

        snprintf(self, sizeof(self), "/proc/self/fd/%d", j->lockfd);
        if (inotify_add_watch(ifd, self, IN_CLOSE | IN_ATTRIB | IN_DELETE_SELF) < 0)
            closep(&ifd);
    }
    for (;;) {
        int64_t elapsed, next;

        if (flock(j->lockfd, how | LOCK_NB) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return fail(err, negative_errno(), "cannot lock journal '%s': %s", j->path,
                        strerror(errno));
        elapsed = ptap_now_ms() - start;
        if (elapsed >= (int64_t) w->timeout_ms) {
            lock_holder(j->lockfd, holder, sizeof(holder));
            if (w->timeout_ms == 0)
                return fail(err, -EWOULDBLOCK, "journal '%s' is locked by %s", j->path, holder);
            return fail(err, -EWOULDBLOCK,
                        "journal '%s' is locked by %s: gave up after %u.%u s", j->path, holder,
                        w->timeout_ms / 1000, w->timeout_ms % 1000 / 100);
        }
        if (!noticed && w->notice && elapsed >= (int64_t) w->notice_ms) {
            lock_holder(j->lockfd, holder, sizeof(holder));
            w->notice(j->path, holder, w->userdata);
            noticed = true;
        }
        next = (int64_t) w->timeout_ms - elapsed;
        if (!noticed && w->notice && (int64_t) w->notice_ms - elapsed < next)
            next = (int64_t) w->notice_ms - elapsed;
        if (next > LOCK_POLL_MS)
            next = LOCK_POLL_MS;
        if (next < 1)
            next = 1;
        if (ifd >= 0) {
            struct pollfd pfd = { .fd = ifd, .events = POLLIN };
            char ev[4096];

            if (poll(&pfd, 1, (int) next) > 0)
                while (read(ifd, ev, sizeof(ev)) > 0)
                    ; /* drained: look again */
        } else {
            (void) poll(NULL, 0, (int) next);
        }
    }
}

/* Open the lock file and take the lock. A writer creates the file; a
 * reader opens it read-only (flock needs no write access) and creates it
 * only where it can: in a state directory it cannot write (a read-only
 * mount), a reader reads without the lock (j->lockfd stays -1). That is
 * safe for a reader: it uses complete records only, and a compaction
 * replaces the file atomically. */
static int lock_take(ptap_journal *j, const char *dir, unsigned flags,
                     const ptap_journal_wait *w, ptap_error *err)
{
    bool ro = flags & PTAP_JOURNAL_READONLY;
    ptap_journal_wait now = { 0 };
    int r;

    if (ro) {
        j->lockfd = open_nofollow(j->dirfd, JOURNAL_LOCK, O_RDONLY, 0, "journal lock", dir, err);
        if (j->lockfd == -ENOENT) {
            j->lockfd = open_nofollow(j->dirfd, JOURNAL_LOCK, O_RDWR | O_CREAT, 0600,
                                      "journal lock", dir, err);
            if (j->lockfd == -EROFS || j->lockfd == -EACCES) {
                ptap_debug("journal '%s': reading without the lock: cannot create it in '%s': %s",
                           j->path, dir, strerror(-j->lockfd));
                j->lockfd = -1;
                return 0;
            }
        }
    } else {
        j->lockfd = open_nofollow(j->dirfd, JOURNAL_LOCK, O_RDWR | O_CREAT, 0600, "journal lock",
                                  dir, err);
    }
    if (j->lockfd < 0)
        return j->lockfd == -EPERM ? -EPERM
                                   : fail(err, j->lockfd, "cannot open the lock file in '%s': %s",
                                          dir, strerror(-j->lockfd));
    r = check_owner(j->lockfd, S_IFREG, "journal lock in", dir, err);
    if (r < 0)
        return r;
    if (flags & PTAP_JOURNAL_NONBLOCK)
        w = &now;
    return lock_wait(j, ro ? LOCK_SH : LOCK_EX, w, err);
}

static int journal_id_new(char id[PTAP_JOURNAL_ID_LEN + 1])
{
    uint8_t raw[PTAP_JOURNAL_ID_LEN / 2];
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t k = getrandom(raw + got, sizeof(raw) - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return negative_errno();
        got += (size_t) k;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Public API */

void ptap_journal_close(ptap_journal *j)
{
    if (!j)
        return;
    closep(&j->fd);
    closep(&j->lockfd); /* releases the lock */
    closep(&j->dirfd);
    live_clear(j);
    free(j->path);
    free(j);
}

int ptap_journal_load_buffer(const char *buf, size_t len, ptap_journal **ret, ptap_error *err)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    size_t complete;
    int r;

    if (!ret || (!buf && len))
        return -EINVAL;
    xmlInitParser();
    j = journal_new();
    if (!j || !(j->path = strdup("(memory)")))
        return -ENOMEM;
    j->memory = true;
    j->flags = PTAP_JOURNAL_READONLY;
    r = replay(j, buf ? buf : "", len, j->path, &complete, err);
    if (r < 0)
        return r;
    j->size = (off_t) complete;
    *ret = TAKE_PTR(j);
    return 0;
}

int ptap_journal_open(const char *dir, unsigned flags, ptap_journal **ret, ptap_error *err)
{
    return ptap_journal_open_wait(dir, flags, NULL, ret, err);
}

/* The stamp of a journal file that @st describes. */
static ptap_journal_stamp stamp_of(const struct stat *st)
{
    return (ptap_journal_stamp) { .exists = true, .dev = st->st_dev, .ino = st->st_ino,
                                  .size = st->st_size, .mtime = st->st_mtim };
}

int ptap_journal_open_wait(const char *dir, unsigned flags, const ptap_journal_wait *wait,
                           ptap_journal **ret, ptap_error *err)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_free_ char *buf = NULL;
    bool ro = flags & PTAP_JOURNAL_READONLY;
    size_t len = 0, complete = 0;
    int r;

    if (!dir || !*dir || !ret ||
        (flags & ~(PTAP_JOURNAL_READONLY | PTAP_JOURNAL_CREATE | PTAP_JOURNAL_NONBLOCK)))
        return -EINVAL;
    xmlInitParser();
    j = journal_new();
    if (!j || asprintf(&j->path, "%s/%s", dir, JOURNAL_FILE) < 0) {
        if (j)
            j->path = NULL;
        return -ENOMEM;
    }
    j->flags = flags;

    if ((flags & PTAP_JOURNAL_CREATE) && mkdir(dir, 0700) < 0 && errno != EEXIST)
        return fail(err, negative_errno(), "cannot create state directory '%s': %s", dir,
                    strerror(errno));
    j->dirfd = open_nofollow(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY, 0, "state directory", dir,
                             err);
    if (j->dirfd < 0)
        return j->dirfd == -EPERM ? -EPERM
                                  : fail(err, j->dirfd, "cannot open state directory '%s': %s",
                                         dir, strerror(-j->dirfd));
    r = check_owner(j->dirfd, S_IFDIR, "state directory", dir, err);
    if (r < 0)
        return r;

    /* The lock lives on a file that is never renamed, so compaction's
     * rename cannot pull the journal out from under a lock holder. */
    r = lock_take(j, dir, flags, wait, err);
    if (r < 0)
        return r;

    j->fd = open_nofollow(j->dirfd, JOURNAL_FILE, ro ? O_RDONLY : O_RDWR, 0, "journal", j->path,
                          err);
    if (j->fd == -ENOENT && !ro && (flags & PTAP_JOURNAL_CREATE)) {
        /* A new journal appears whole or not at all. */
        r = journal_id_new(j->id);
        if (r < 0)
            return fail(err, r, "cannot draw a journal id: %s", strerror(-r));
        r = compact(j, "journal-create-tmp-written", "journal-create-renamed",
                    "journal-create-done", err);
        if (r < 0)
            return r;
        ptap_debug("journal '%s': created with id %s", j->path, j->id);
        *ret = TAKE_PTR(j);
        return 0;
    }
    if (j->fd < 0)
        return j->fd == -EPERM ? -EPERM
                               : fail(err, j->fd, "cannot open journal '%s': %s", j->path,
                                      strerror(-j->fd));
    r = check_owner(j->fd, S_IFREG, "journal", j->path, err);
    if (r < 0)
        return r;
    {
        struct stat st;

        if (fstat(j->fd, &st) == 0)
            j->at_lock = stamp_of(&st);
    }
    r = ptap_read_all(j->fd, 0, &buf, &len);
    if (r < 0)
        return fail(err, r, "cannot read journal '%s': %s", j->path, strerror(-r));
    r = replay(j, buf, len, j->path, &complete, err);
    if (r < 0)
        return r;
    j->size = (off_t) complete;
    if (!ro) {
        if (complete < len) {
            /* Cut the torn record away before anything is appended. */
            if (ftruncate(j->fd, (off_t) complete) < 0 || fsync(j->fd) < 0)
                return fail(err, negative_errno(), "cannot truncate the torn end of '%s': %s",
                            j->path, strerror(errno));
        }
        /* A compaction that died before its rename left this behind. */
        (void) unlinkat(j->dirfd, JOURNAL_TMP, 0);
        if (j->version < PTAP_JOURNAL_VERSION) {
            /* An older format (version 1: no checksums) is converted before
             * anything is appended to it: the next compaction is now. */
            r = ptap_journal_compact(j, err);
            if (r < 0)
                return r;
            ptap_debug("journal '%s': converted from format version %d to %d", j->path,
                       j->version, PTAP_JOURNAL_VERSION);
            j->version = PTAP_JOURNAL_VERSION;
        } else {
            reserve_make(j);
        }
    }
    *ret = TAKE_PTR(j);
    return 0;
}

void ptap_journal_stamp_take(const char *dir, ptap_journal_stamp *s)
{
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;

    *s = (ptap_journal_stamp) { 0 };
    /* No file yet: any journal the command finds is newer. */
    if (dfd >= 0 && fstatat(dfd, JOURNAL_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0)
        *s = stamp_of(&st);
}

bool ptap_journal_changed_since(const ptap_journal *j, const ptap_journal_stamp *s)
{
    const ptap_journal_stamp *a = &j->at_lock;

    return !s->exists || !a->exists || a->dev != s->dev || a->ino != s->ino ||
           a->size != s->size || a->mtime.tv_sec != s->mtime.tv_sec ||
           a->mtime.tv_nsec != s->mtime.tv_nsec;
}

const char *ptap_journal_id(const ptap_journal *j)
{
    return j ? j->id : NULL;
}

const char *ptap_journal_path(const ptap_journal *j)
{
    return j ? j->path : NULL;
}

int ptap_journal_version(const ptap_journal *j)
{
    return j ? j->version : 0;
}

void ptap_journal_use_reserve(ptap_journal *j)
{
    if (j)
        j->spend_reserve = true;
}

void ptap_journal_new_id(ptap_journal *j, char buf[PTAP_RECORD_ID_MAX])
{
    /* Reserve a seq for the id: every later record has a higher seq, and
     * the counter survives compaction (header next-seq). */
    snprintf(buf, PTAP_RECORD_ID_MAX, "op%" PRIu64, j->next_seq);
    if (j->next_seq <= PTAP_JOURNAL_SEQ_MAX) /* never past: see the append's refusal */
        j->next_seq++;
}

size_t ptap_journal_count(const ptap_journal *j)
{
    return j ? j->n_live : 0;
}

size_t ptap_journal_log_records(const ptap_journal *j)
{
    return j ? j->log_records : 0;
}

const ptap_record *ptap_journal_get(const ptap_journal *j, size_t i)
{
    if (!j || i >= j->n_live)
        return NULL;
    /* The handle is never const at its origin: squeezing out closed slots
     * changes no observable state. */
    order_densify((ptap_journal *) j);
    return &j->order[i]->rec;
}

const ptap_record *ptap_journal_find(const ptap_journal *j, const char *name)
{
    entry *e;

    if (!j || !name || strlen(name) >= IFNAMSIZ)
        return NULL;
    if (!strchr(name, '%')) { /* '%' starts batch keys only */
        e = xmlHashLookup(j->keys, BAD_CAST name);
        if (e)
            return &e->rec;
    }
    for (e = j->batch_head; e; e = e->bnext)
        if (strcmp(e->rec.name, name) == 0)
            return &e->rec;
    return NULL;
}

const ptap_record *ptap_journal_find_batch(const ptap_journal *j, const char *batch)
{
    char key[KEY_MAX];
    entry *e;

    if (!j || !batch || !*batch || strlen(batch) >= PTAP_RECORD_ID_MAX)
        return NULL;
    snprintf(key, sizeof(key), "%%%s", batch);
    e = xmlHashLookup(j->keys, BAD_CAST key);
    return e ? &e->rec : NULL;
}

int ptap_journal_compact(ptap_journal *j, ptap_error *err)
{
    if (!j)
        return -EINVAL;
    if (j->memory || (j->flags & PTAP_JOURNAL_READONLY))
        return -EBADF;
    if (j->broken)
        return -EIO;
    return compact(j, "journal-compact-tmp-written", "journal-compact-renamed",
                   "journal-compact-done", err);
}

int ptap_journal_append(ptap_journal *j, ptap_record *recs, size_t n, ptap_error *err)
{
    _cleanup_(xmlBufferFreep) xmlBufferPtr out = NULL, line = NULL;
    const char *why = NULL;
    uint64_t seq;
    size_t len, first, n_destroyed = 0;
    bool may_spend = true; /* records that only close create intents may use the reserve */
    time_t now;
    int r;

    if (!j || (!recs && n))
        return -EINVAL;
    if (j->memory || (j->flags & PTAP_JOURNAL_READONLY))
        return -EBADF;
    if (j->broken)
        return fail(err, -EIO, "journal '%s': an earlier write failed; reopen it", j->path);
    if (n == 0)
        return 0;

    /* The counter never wraps: refused while there is still room to say so. */
    if (n > PTAP_JOURNAL_SEQ_MAX + 1 - j->next_seq)
        return fail(err, -EOVERFLOW,
                    "journal '%s': sequence numbers exhausted (next-seq %" PRIu64 ", the last is "
                    "%" PRIu64 "); its header or records were edited", j->path, j->next_seq,
                    PTAP_JOURNAL_SEQ_MAX);

    now = time(NULL);
    for (size_t i = 0; i < n; i++) {
        if (recs[i].state != PTAP_STATE_DESTROYED || !record_is_batch(&recs[i]))
            may_spend = false;
        if (recs[i].consumer.kind == PTAP_CONSUMER_NONE)
            memset(&recs[i].consumer, 0, sizeof(recs[i].consumer));
        recs[i].created = recs[i].updated = now; /* checked below, set for real later */
        if (record_check(&recs[i], &why) < 0)
            return fail(err, -EINVAL, "record %zu ('%.*s') is invalid: %s", i, IFNAMSIZ - 1,
                        recs[i].name, why);
    }

    /* Compact first when the file has grown well past the live state. */
    if (j->log_records > COMPACT_FACTOR * j->n_live + COMPACT_MIN) {
        r = compact(j, "journal-compact-tmp-written", "journal-compact-renamed",
                    "journal-compact-done", err);
        if (r < 0)
            return r;
    }

    seq = j->next_seq;
    /* The state of the last record of each key so far in this call (+1,
     * as a pointer), made only once a record was closed: a key closed
     * earlier in this same call starts afresh. */
    _cleanup_(xmlHashFreep) xmlHashTablePtr seen = NULL;
    for (size_t i = 0; i < n; i++) {
        char key[KEY_MAX];
        const entry *e;
        bool reborn = false;

        record_key(&recs[i], key);
        e = xmlHashLookup(j->keys, BAD_CAST key);
        if (n_destroyed && !seen) {
            seen = xmlHashCreate((int) (n < 1u << 20 ? n : 1u << 20));
            if (!seen)
                return -ENOMEM;
            for (size_t k = 0; k < i; k++) {
                char other[KEY_MAX];

                record_key(&recs[k], other);
                if (xmlHashUpdateEntry(seen, BAD_CAST other,
                                       (void *) (uintptr_t) (recs[k].state + 1), NULL) < 0)
                    return -ENOMEM;
            }
        }
        if (e && seen) {
            uintptr_t last = (uintptr_t) xmlHashLookup(seen, BAD_CAST key);

            reborn = last == (uintptr_t) PTAP_STATE_DESTROYED + 1;
        }
        if (seen && xmlHashUpdateEntry(seen, BAD_CAST key,
                                       (void *) (uintptr_t) (recs[i].state + 1), NULL) < 0)
            return -ENOMEM;
        recs[i].seq = seq++;
        recs[i].created = e && !reborn ? e->rec.created : now;
        if (recs[i].state == PTAP_STATE_DESTROYED)
            n_destroyed++;
    }

    out = xmlBufferCreate();
    line = xmlBufferCreate();
    if (!out || !line)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        r = record_format(out, line, &recs[i]);
        if (r < 0)
            return r;
    }
    len = (size_t) xmlBufferLength(out);

    /* One write of all records. Fault-injection builds split it in two
     * so that a test can die with half a record on disk. */
    first = len;
#ifdef PTAP_FAULT_INJECTION
    first = len / 2;
#endif
    may_spend |= j->spend_reserve;
    for (int attempt = 0;; attempt++) {
        r = ptap_pwrite_all(j->fd, (const char *) xmlBufferContent(out), first, j->size);
        if (r >= 0) {
            ptap_fault("journal-mid-record");
            r = ptap_pwrite_all(j->fd, (const char *) xmlBufferContent(out) + first, len - first,
                           j->size + (off_t) first);
        }
        if (r >= 0) {
            ptap_fault("journal-before-sync");
            if (fdatasync(j->fd) < 0) {
                r = negative_errno();
                /* After a failed sync the page cache cannot be trusted. */
                j->broken = true;
            }
        }
        if (r >= 0)
            break;
        /* Take back what may have reached the file; if even that fails,
         * the next replay drops or refuses it, and this handle is done. */
        if (ftruncate(j->fd, j->size) < 0)
            j->broken = true;
        /* Out of space: a recovery, or a failed create closing its intent
         * (so that its name stays usable), may have the reserve's room. */
        if (r == -ENOSPC && attempt == 0 && !j->broken && may_spend && reserve_release(j))
            continue;
        return fail(err, r, "cannot append to journal '%s': %s", j->path, strerror(-r));
    }
    j->size += (off_t) len;
    j->log_records += n;
    j->next_seq = seq;
    for (size_t i = 0; i < n; i++) {
        r = fold(j, &recs[i]);
        if (r < 0) {
            /* The file is right, the memory is not: reopen. */
            j->broken = true;
            return r;
        }
    }
    ptap_fault("journal-after-sync");
    return 0;
}

/* Collects the first error libxml2 reports (RelaxNG parsing and
 * validation), so that nothing reaches stderr. */
typedef struct xml_errors {
    char first[384];
} xml_errors;

static void xml_errors_collect(void *data, xmlErrorPtr e)
{
    xml_errors *x = data;
    size_t m;

    if (!e || x->first[0])
        return;
    if (e->line > 0)
        snprintf(x->first, sizeof(x->first), "line %d: %s", e->line, strna(e->message));
    else
        snprintf(x->first, sizeof(x->first), "%s", strna(e->message));
    m = strlen(x->first);
    while (m > 0 && (x->first[m - 1] == '\n' || x->first[m - 1] == ' '))
        x->first[--m] = '\0';
}

static int schema_validate(xmlDocPtr doc, const char *path, const char *schema_path,
                           ptap_error *err)
{
    _cleanup_(xmlRelaxNGFreeParserCtxtp) xmlRelaxNGParserCtxtPtr pctxt = NULL;
    _cleanup_(xmlRelaxNGFreep) xmlRelaxNGPtr schema = NULL;
    _cleanup_(xmlRelaxNGFreeValidCtxtp) xmlRelaxNGValidCtxtPtr vctxt = NULL;
    xml_errors x = { "" };
    int r;

    if (access(schema_path, R_OK) < 0) {
        r = negative_errno();
        return fail(err, r, "cannot read the schema '%s': %s", schema_path, strerror(-r));
    }
    pctxt = xmlRelaxNGNewParserCtxt(schema_path);
    if (!pctxt)
        return -ENOMEM;
    xmlRelaxNGSetParserStructuredErrors(pctxt, xml_errors_collect, &x);
    schema = xmlRelaxNGParse(pctxt);
    if (!schema)
        return fail(err, -EINVAL, "cannot load the schema '%s': %s", schema_path, x.first);
    vctxt = xmlRelaxNGNewValidCtxt(schema);
    if (!vctxt)
        return -ENOMEM;
    xmlRelaxNGSetValidStructuredErrors(vctxt, xml_errors_collect, &x);
    r = xmlRelaxNGValidateDoc(vctxt, doc);
    if (r != 0)
        return fail(err, r > 0 ? -EBADMSG : -EIO, "journal '%s' does not match the schema '%s'%s%s",
                    path, schema_path, *x.first ? ": " : "", x.first);
    return 0;
}

int ptap_journal_validate_file(const char *path, const char *schema_path, size_t *torn,
                               ptap_error *err)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    _cleanup_free_ char *buf = NULL;
    _cleanup_close_ int fd = -1;
    size_t len = 0, complete = 0;
    int r;

    if (torn)
        *torn = 0;
    if (!path)
        return -EINVAL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r = negative_errno();
        return fail(err, r, "cannot open '%s': %s", path, strerror(-r));
    }
    r = ptap_read_all(fd, 0, &buf, &len);
    if (r < 0)
        return fail(err, r, "cannot read '%s': %s", path, strerror(-r));

    /* The semantic rules: exactly what replay enforces. */
    xmlInitParser();
    j = journal_new();
    if (!j || !(j->path = strdup(path)))
        return -ENOMEM;
    j->memory = true;
    r = replay(j, buf, len, path, &complete, err);
    if (r < 0)
        return r;

    /* The schema. */
    if (schema_path) {
        r = doc_parse(buf, complete, path, &doc, err);
        if (r < 0)
            return r;
        r = schema_validate(doc, path, schema_path, err);
        if (r < 0)
            return r;
    }
    if (torn)
        *torn = len - complete;
    return 0;
}

int ptap_journal_default_dir(char *buf, size_t len)
{
    const char *xdg;
    int n;

    if (!buf || !len)
        return -EINVAL;
    if (geteuid() == 0) {
        n = snprintf(buf, len, "/run/ptap");
    } else {
        xdg = secure_getenv("XDG_RUNTIME_DIR");
        if (!xdg || xdg[0] != '/')
            return -ENOENT;
        n = snprintf(buf, len, "%s/ptap", xdg);
    }
    return n < 0 || (size_t) n >= len ? -ENAMETOOLONG : 0;
}
