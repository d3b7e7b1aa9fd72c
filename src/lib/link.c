/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include "fault.h"
#include "link.h"
#include "log.h"
#include "util.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#define PTAP_NLM_F_ACK_TLVS 0x200 /* NLM_F_ACK_TLVS */
#define PTAP_NLMSGERR_ATTR_MSG 1  /* NLMSGERR_ATTR_MSG */

/* Groups ptap picks for a batch delete: far from the small numbers an
 * administrator would use by hand. */
#define GROUP_MIN 0x50000000u
#define GROUP_SPAN 0x2fffffffu

struct ptap_link_ctx {
    struct nl_sock *sk;
    int last_errno;      /* raw errno from the kernel's NLMSG_ERROR, or 0 */
    char message[256];   /* extended ack text, or libnl's text */
    uint32_t seq;        /* the pipelined requests' own sequence numbers, apart from
                          * libnl's (which checks that its own arrive in order) */
    size_t rcvbuf;       /* the socket's receive buffer (bytes), for how many replies
                          * may be in flight */
};

int ptap_link_nlerr_to_errno(int nlerr)
{
    static const struct {
        int nle, err;
    } map[] = {
        { NLE_SUCCESS, 0 },
        { NLE_INTR, EINTR },
        { NLE_BAD_SOCK, EBADF },
        { NLE_AGAIN, EAGAIN },
        { NLE_NOMEM, ENOMEM },
        { NLE_EXIST, EEXIST },
        { NLE_INVAL, EINVAL },
        { NLE_RANGE, ERANGE },
        { NLE_MSGSIZE, EMSGSIZE },
        { NLE_OPNOTSUPP, EOPNOTSUPP },
        { NLE_AF_NOSUPPORT, EAFNOSUPPORT },
        { NLE_OBJ_NOTFOUND, ENOENT },
        { NLE_NOATTR, ENOENT },
        { NLE_MISSING_ATTR, EINVAL },
        { NLE_AF_MISMATCH, EINVAL },
        { NLE_SEQ_MISMATCH, EPROTO },
        { NLE_MSG_OVERFLOW, ENOBUFS },
        { NLE_MSG_TRUNC, EMSGSIZE },
        { NLE_NOADDR, EADDRNOTAVAIL },
        { NLE_SRCRT_NOSUPPORT, EOPNOTSUPP },
        { NLE_MSG_TOOSHORT, EBADMSG },
        { NLE_MSGTYPE_NOSUPPORT, EOPNOTSUPP },
        { NLE_OBJ_MISMATCH, EINVAL },
        { NLE_NOCACHE, ENOENT },
        { NLE_BUSY, EBUSY },
        { NLE_PROTO_MISMATCH, EPROTONOSUPPORT },
        { NLE_NOACCESS, EACCES },
        { NLE_PERM, EPERM },
        { NLE_PKTLOC_FILE, ENOENT },
        { NLE_PARSE_ERR, EBADMSG },
        { NLE_NODEV, ENODEV },
        { NLE_IMMUTABLE, EROFS },
        { NLE_DUMP_INTR, EINTR },
        { NLE_ATTRSIZE, EBADMSG },
    };
    int e = nlerr < 0 ? -nlerr : nlerr;

    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (map[i].nle == e)
            return -map[i].err;
    return -EIO;
}

/* The kernel's extended-ack text of error message @h (struct nlmsgerr @e),
 * into c->message ("" when it sent none). */
static void ack_text(ptap_link_ctx *c, const struct nlmsghdr *h, const struct nlmsgerr *e)
{
    c->message[0] = '\0';
    /* NETLINK_CAP_ACK is set: the TLVs follow struct nlmsgerr directly. */
    if ((h->nlmsg_flags & PTAP_NLM_F_ACK_TLVS) &&
        h->nlmsg_len >= NLMSG_HDRLEN + sizeof(*e)) {
        const char *p = (const char *) e + NLMSG_ALIGN(sizeof(*e));
        const char *end = (const char *) h + h->nlmsg_len;

        while (p + sizeof(struct nlattr) <= end) {
            const struct nlattr *a = (const struct nlattr *) p;
            size_t alen = a->nla_len;

            if (alen < sizeof(*a) || p + alen > end)
                break;
            if ((a->nla_type & NLA_TYPE_MASK) == PTAP_NLMSGERR_ATTR_MSG) {
                size_t n = alen - NLA_HDRLEN;
                const char *s = p + NLA_HDRLEN;

                n = strnlen(s, n);
                if (n >= sizeof(c->message))
                    n = sizeof(c->message) - 1;
                memcpy(c->message, s, n);
                c->message[n] = '\0';
            }
            p += NLA_ALIGN(alen);
        }
    }
}

/* Keep the kernel's exact errno and its extended-ack text: libnl folds
 * errnos into fewer NLE_* codes. */
static int err_cb(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
    ptap_link_ctx *c = arg;
    const struct nlmsghdr *h = (const struct nlmsghdr *) ((const char *) e - NLMSG_HDRLEN);

    (void) nla;
    c->last_errno = e->error < 0 ? -e->error : e->error;
    ack_text(c, h, e);
    return NL_STOP;
}

/* Turn a libnl result into 0/-errno, preferring the kernel's own errno. */
static int finish(ptap_link_ctx *c, int r)
{
    if (r >= 0)
        return 0;
    if (c->last_errno)
        return -c->last_errno;
    if (!c->message[0])
        snprintf(c->message, sizeof(c->message), "%s", nl_geterror(r));
    return ptap_link_nlerr_to_errno(r);
}

static void reset(ptap_link_ctx *c)
{
    c->last_errno = 0;
    c->message[0] = '\0';
}

int ptap_link_open(ptap_link_ctx **ret)
{
    ptap_link_ctx *c;
    int one = 1, r;

    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->sk = nl_socket_alloc();
    if (!c->sk) {
        free(c);
        return -ENOMEM;
    }
    /* libnl opens the socket with SOCK_CLOEXEC. */
    r = nl_connect(c->sk, NETLINK_ROUTE);
    if (r < 0) {
        nl_socket_free(c->sk);
        free(c);
        return ptap_link_nlerr_to_errno(r);
    }
    /* Ask for the kernel's error text; older kernels ignore it. */
    (void) setsockopt(nl_socket_get_fd(c->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    (void) setsockopt(nl_socket_get_fd(c->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    nl_socket_modify_err_cb(c->sk, NL_CB_CUSTOM, err_cb, c);
    c->seq = 0x80000000u;
    {
        int size = 0;
        socklen_t len = sizeof(size);

        if (getsockopt(nl_socket_get_fd(c->sk), SOL_SOCKET, SO_RCVBUF, &size, &len) < 0 ||
            size <= 0)
            size = 65536;
        c->rcvbuf = (size_t) size;
    }
    *ret = c;
    return 0;
}

void ptap_link_close(ptap_link_ctx *c)
{
    if (!c)
        return;
    nl_socket_free(c->sk);
    free(c);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_msg *, nlmsg_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_cb *, nl_cb_put)

const char *ptap_link_message(const ptap_link_ctx *c)
{
    return c ? c->message : "";
}

void ptap_link_info_free(ptap_link_info *infos)
{
    free(infos);
}

const ptap_link_info *ptap_link_find(const ptap_link_info *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

const ptap_link_info *ptap_link_find_index(const ptap_link_info *v, size_t n, int ifindex)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].ifindex == ifindex)
            return &v[i];
    return NULL;
}

/* --- one link as a line ------------------------------------------------ */

/* A word of the line: printable, no blank ("" is not a word). */
static bool is_word(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return false;
    return true;
}

/* The FLAGS word: a letter for each flag that is set. */
static const struct {
    char letter;
    size_t at; /* offsetof(ptap_link_info, the flag) */
} LINK_FLAGS[] = {
    { 't', offsetof(ptap_link_info, is_tun) },      { 'p', offsetof(ptap_link_info, is_tap) },
    { 'm', offsetof(ptap_link_info, multi_queue) }, { 'v', offsetof(ptap_link_info, vnet_hdr) },
    { 's', offsetof(ptap_link_info, persist) },     { 'c', offsetof(ptap_link_info, carrier) },
    { 'u', offsetof(ptap_link_info, up) },
};

int ptap_link_info_format(const ptap_link_info *l, char *buf, size_t size)
{
    char flags[ARRAY_SIZE(LINK_FLAGS) + 1];
    size_t k = 0;
    int n;

    if (!is_word(l->name))
        return -EINVAL;
    for (size_t i = 0; i < ARRAY_SIZE(LINK_FLAGS); i++)
        if (*(const bool *) ((const char *) l + LINK_FLAGS[i].at))
            flags[k++] = LINK_FLAGS[i].letter;
    if (k == 0)
        flags[k++] = '-';
    flags[k] = '\0';
    n = snprintf(buf, size, "link %d %s %s %s %lld %lld %u %u %d %s %u %u %s", l->ifindex, l->name,
                 is_word(l->kind) ? l->kind : "-", flags, (long long) l->owner, (long long) l->group,
                 l->queues, l->disabled_queues, l->master_ifindex,
                 is_word(l->master) ? l->master : "-", l->mtu, l->link_group,
                 is_word(l->alias) ? l->alias : "-");
    return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

/* Copy word @w into @dst (@size bytes, "-": ""); false when it does not fit. */
static bool word_copy(char *dst, size_t size, const char *w)
{
    if (strcmp(w, "-") == 0)
        w = "";
    if (strlen(w) >= size)
        return false;
    memcpy(dst, w, strlen(w) + 1);
    return true;
}

static bool word_number(const char *w, long long min, long long max, long long *ret)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(w, &end, 10);
    if (errno || end == w || *end || v < min || v > max)
        return false;
    *ret = v;
    return true;
}

int ptap_link_info_parse(const char *line, ptap_link_info *l)
{
    char copy[PTAP_LINK_LINE_MAX], *w[14], *save = NULL;
    long long num[8];
    size_t n = 0;

    if (strlen(line) >= sizeof(copy))
        return -EINVAL;
    memcpy(copy, line, strlen(line) + 1);
    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == sizeof(w) / sizeof(w[0]))
            return -EINVAL;
        w[n++] = t;
    }
    *l = (ptap_link_info) { 0 };
    if (n != 14 || strcmp(w[0], "link") != 0 || !word_number(w[1], 1, INT32_MAX, &num[0]) ||
        strcmp(w[2], "-") == 0 || !word_copy(l->name, sizeof(l->name), w[2]) ||
        !word_copy(l->kind, sizeof(l->kind), w[3]) ||
        !word_number(w[5], -1, UINT32_MAX, &num[1]) || !word_number(w[6], -1, UINT32_MAX, &num[2]) ||
        !word_number(w[7], 0, UINT32_MAX, &num[3]) || !word_number(w[8], 0, UINT32_MAX, &num[4]) ||
        !word_number(w[9], 0, INT32_MAX, &num[5]) ||
        !word_copy(l->master, sizeof(l->master), w[10]) ||
        !word_number(w[11], 0, UINT32_MAX, &num[6]) || !word_number(w[12], 0, UINT32_MAX, &num[7]) ||
        !word_copy(l->alias, sizeof(l->alias), w[13]))
        return -EINVAL;
    if (strcmp(w[4], "-") != 0)
        for (const char *c = w[4]; *c; c++) {
            size_t i = 0;

            while (i < ARRAY_SIZE(LINK_FLAGS) && LINK_FLAGS[i].letter != *c)
                i++;
            if (i == ARRAY_SIZE(LINK_FLAGS))
                return -EINVAL;
            *(bool *) ((char *) l + LINK_FLAGS[i].at) = true;
        }
    l->ifindex = (int) num[0];
    l->owner = num[1];
    l->group = num[2];
    l->queues = (uint32_t) num[3];
    l->disabled_queues = (uint32_t) num[4];
    l->master_ifindex = (int) num[5];
    l->mtu = (unsigned) num[6];
    l->link_group = (uint32_t) num[7];
    return 0;
}

/* --- dump ---------------------------------------------------------------- */

struct dump_state {
    ptap_link_info *v;
    size_t n, cap;
    int error;
};

static bool attr_u32(const struct nlattr *a, uint32_t *out)
{
    if (!a || nla_len(a) < (int) sizeof(uint32_t))
        return false;
    *out = nla_get_u32((struct nlattr *) a);
    return true;
}

static bool attr_u8(const struct nlattr *a, uint8_t *out)
{
    if (!a || nla_len(a) < (int) sizeof(uint8_t))
        return false;
    *out = nla_get_u8((struct nlattr *) a);
    return true;
}

static void attr_str(const struct nlattr *a, char *buf, size_t size)
{
    size_t n;

    buf[0] = '\0';
    if (!a || nla_len(a) <= 0)
        return;
    n = strnlen(nla_data(a), (size_t) nla_len(a));
    if (n >= size) /* never truncate silently: too long = absent */
        return;
    memcpy(buf, nla_data(a), n);
    buf[n] = '\0';
}

static void parse_tun_data(struct nlattr *data, ptap_link_info *li)
{
    struct nlattr *tb[IFLA_TUN_MAX + 1];
    uint32_t v32;
    uint8_t v8;

    if (nla_parse_nested(tb, IFLA_TUN_MAX, data, NULL) < 0)
        return;
    if (attr_u32(tb[IFLA_TUN_OWNER], &v32))
        li->owner = v32;
    if (attr_u32(tb[IFLA_TUN_GROUP], &v32))
        li->group = v32;
    if (attr_u8(tb[IFLA_TUN_TYPE], &v8))
        li->is_tap = (v8 & IFF_TAP) != 0;
    if (attr_u8(tb[IFLA_TUN_VNET_HDR], &v8))
        li->vnet_hdr = v8 != 0;
    if (attr_u8(tb[IFLA_TUN_MULTI_QUEUE], &v8))
        li->multi_queue = v8 != 0;
    if (attr_u8(tb[IFLA_TUN_PERSIST], &v8))
        li->persist = v8 != 0;
    if (attr_u32(tb[IFLA_TUN_NUM_QUEUES], &v32))
        li->queues = v32;
    if (attr_u32(tb[IFLA_TUN_NUM_DISABLED_QUEUES], &v32))
        li->disabled_queues = v32;
}

static int dump_cb(struct nl_msg *msg, void *arg)
{
    struct dump_state *st = arg;
    struct nlmsghdr *h = nlmsg_hdr(msg);
    struct nlattr *tb[IFLA_MAX + 1];
    struct ifinfomsg *ifi;
    ptap_link_info *li;
    uint32_t v32;
    uint8_t v8;

    if (h->nlmsg_type != RTM_NEWLINK || nlmsg_datalen(h) < (int) sizeof(*ifi))
        return NL_SKIP;
    if (nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
        return NL_SKIP;
    ifi = nlmsg_data(h);
    if (st->n == st->cap) {
        size_t ncap = st->cap ? st->cap * 2 : 32;
        ptap_link_info *nv = reallocarray(st->v, ncap, sizeof(*nv));

        if (!nv) {
            st->error = -ENOMEM;
            return NL_STOP;
        }
        st->v = nv;
        st->cap = ncap;
    }
    li = &st->v[st->n];
    memset(li, 0, sizeof(*li));
    li->ifindex = ifi->ifi_index;
    li->up = (ifi->ifi_flags & IFF_UP) != 0;
    li->owner = -1;
    li->group = -1;
    attr_str(tb[IFLA_IFNAME], li->name, sizeof(li->name));
    attr_str(tb[IFLA_IFALIAS], li->alias, sizeof(li->alias));
    if (attr_u32(tb[IFLA_MTU], &v32))
        li->mtu = v32;
    if (attr_u32(tb[IFLA_MASTER], &v32))
        li->master_ifindex = (int) v32;
    if (attr_u8(tb[IFLA_CARRIER], &v8))
        li->carrier = v8 != 0;
    if (attr_u32(tb[IFLA_GROUP], &v32))
        li->link_group = v32;
    if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == PTAP_MAC_LEN) {
        li->has_mac = true;
        memcpy(li->mac, nla_data(tb[IFLA_ADDRESS]), PTAP_MAC_LEN);
    }
    if (tb[IFLA_LINKINFO]) {
        struct nlattr *info[IFLA_INFO_MAX + 1];

        if (nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) >= 0) {
            attr_str(info[IFLA_INFO_KIND], li->kind, sizeof(li->kind));
            if (strcmp(li->kind, "tun") == 0) {
                li->is_tun = true;
                if (info[IFLA_INFO_DATA])
                    parse_tun_data(info[IFLA_INFO_DATA], li);
            }
        }
    }
    if (!li->name[0])
        return NL_SKIP; /* not a usable entry */
    st->n++;
    return NL_OK;
}

/* A copy of the socket's callbacks (they keep the kernel's error text)
 * that collects RTM_NEWLINK replies into @st. NULL on ENOMEM. */
static struct nl_cb *link_reply_cb(ptap_link_ctx *c, struct dump_state *st)
{
    struct nl_cb *s = nl_socket_get_cb(c->sk); /* takes a reference */
    struct nl_cb *cb = nl_cb_clone(s);

    nl_cb_put(s);
    if (cb)
        nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, dump_cb, st);
    return cb;
}

int ptap_link_dump_ctx(ptap_link_ctx *c, ptap_link_info **ret, size_t *n)
{
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    int r = 0;

    /* A dump interrupted by a concurrent change (NLE_DUMP_INTR) is retried. */
    for (int attempt = 0; attempt < 5; attempt++) {
        _cleanup_(nl_cb_putp) struct nl_cb *cb = NULL;
        struct dump_state st = { 0 };

        reset(c);
        cb = link_reply_cb(c, &st);
        if (!cb)
            return -ENOMEM;
        {
            _cleanup_(nlmsg_freep) struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_DUMP);

            /* No statistics: nobody here reads them, and they are most of
             * each link's message. */
            if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
                nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0)
                return -ENOMEM;
            r = nl_send_auto(c->sk, msg);
        }
        if (r < 0)
            return finish(c, r);
        r = nl_recvmsgs(c->sk, cb);
        if (st.error < 0) {
            free(st.v);
            return st.error;
        }
        if (r == -NLE_DUMP_INTR) {
            free(st.v);
            continue;
        }
        if (r < 0) {
            free(st.v);
            return finish(c, r);
        }
        for (size_t i = 0; i < st.n; i++) {
            const ptap_link_info *m;

            if (!st.v[i].master_ifindex)
                continue;
            m = ptap_link_find_index(st.v, st.n, st.v[i].master_ifindex);
            if (m)
                memcpy(st.v[i].master, m->name, IFNAMSIZ);
        }
        *ret = st.v;
        *n = st.n;
        return 0;
    }
    return -EINTR;
}

static int ack_cb(struct nl_msg *msg, void *arg)
{
    (void) msg;
    *(bool *) arg = true;
    return NL_STOP;
}

int ptap_link_get_ctx(ptap_link_ctx *c, const char *name, ptap_link_info *ret)
{
    _cleanup_(nl_cb_putp) struct nl_cb *cb = NULL;
    _cleanup_(nlmsg_freep) struct nl_msg *msg = NULL;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    struct dump_state st = { 0 };
    int r;

    if (ptap_ifname_check(name, false, NULL) < 0)
        return -EINVAL;
    reset(c);
    cb = link_reply_cb(c, &st);
    if (!cb)
        return -ENOMEM;
    msg = nlmsg_alloc_simple(RTM_GETLINK, 0);
    if (!msg)
        return -ENOMEM;
    if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
        nla_put_string(msg, IFLA_IFNAME, name) < 0 ||
        nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0)
        return -ENOMEM;
    /* Read up to the ACK (libnl's sequence numbers advance on it): an ACK
     * left unread would be taken for the answer to the next request. */
    bool acked = false;
    nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, ack_cb, &acked);
    r = nl_send_auto(c->sk, msg);
    if (r < 0)
        return finish(c, r);
    do
        r = nl_recvmsgs(c->sk, cb);
    while (r >= 0 && !acked && st.error == 0);
    if (st.error < 0) {
        free(st.v);
        return st.error;
    }
    if (r < 0 || st.n != 1) {
        free(st.v);
        return r < 0 ? finish(c, r) : -ENODEV;
    }
    *ret = st.v[0];
    free(st.v);
    return 0;
}

int ptap_link_get(const char *name, ptap_link_info *ret)
{
    _cleanup_(ptap_link_closep) ptap_link_ctx *c = NULL;
    int r;

    r = ptap_link_open(&c);
    if (r < 0)
        return r;
    return ptap_link_get_ctx(c, name, ret);
}

int ptap_link_dump(ptap_link_info **ret, size_t *n)
{
    _cleanup_(ptap_link_closep) ptap_link_ctx *c = NULL;
    int r;

    r = ptap_link_open(&c);
    if (r < 0)
        return r;
    return ptap_link_dump_ctx(c, ret, n);
}

/* --- configure: pipelined requests ------------------------------------- */

/* Requests in flight at once: their acks (one small skb each, the error
 * text capped by NETLINK_CAP_ACK) fit the socket's default receive
 * buffer with room to spare, so none is dropped (ENOBUFS). */
#define PIPE_MAX 64
/* What one reply takes of the receive buffer (skb overhead included), at
 * most: an ack (its error text capped), and a link message without
 * statistics. */
#define ACK_SIZE 1024
#define LINK_REPLY_SIZE 8192

/* One RTM_SETLINK for @cfg on link @ifindex, asking for an ack. */
static int setlink_msg(int ifindex, const ptap_link_config *cfg, struct nl_msg **ret)
{
    _cleanup_(nlmsg_freep) struct nl_msg *msg = NULL;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };

    if (cfg->up) {
        ifi.ifi_flags = IFF_UP;
        ifi.ifi_change = IFF_UP;
    }
    msg = nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
    if (!msg)
        return -ENOMEM;
    if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
        (cfg->alias && nla_put_string(msg, IFLA_IFALIAS, cfg->alias) < 0) ||
        (cfg->mtu && nla_put_u32(msg, IFLA_MTU, cfg->mtu) < 0) ||
        (cfg->has_mac && nla_put(msg, IFLA_ADDRESS, PTAP_MAC_LEN, cfg->mac) < 0) ||
        (cfg->master > 0 && nla_put_u32(msg, IFLA_MASTER, (uint32_t) cfg->master) < 0) ||
        (cfg->set_group && nla_put_u32(msg, IFLA_GROUP, cfg->group) < 0))
        return -ENOMEM;
    if (cfg->no_ipv6_addr) {
        /* IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE: NONE } } */
        struct nlattr *af = nla_nest_start(msg, IFLA_AF_SPEC), *in6;

        if (!af || !(in6 = nla_nest_start(msg, AF_INET6)) ||
            nla_put_u8(msg, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE) < 0)
            return -ENOMEM;
        nla_nest_end(msg, in6);
        nla_nest_end(msg, af);
    }
    *ret = TAKE_PTR(msg);
    return 0;
}

/*
 * Send @n requests (@msgs, each asking for an ack) @group at a time (fewer
 * when the receive buffer would not hold @reply_size bytes for each), each
 * group in one sendmsg, then read the group's acks (other replies are
 * skipped): errs[i] gets request
 * i's result (0 or -errno), matched by sequence number, whatever the
 * order. The first failure's errno and text stay in @c. Returns 0 when all
 * succeeded, the first failure's -errno, or a transport error (then the
 * requests not acked have errs -EIO: their fate is unknown).
 */
static int request_many(ptap_link_ctx *c, struct nl_msg **msgs, size_t n, size_t group,
                        size_t reply_size, int *errs)
{
    int fd = nl_socket_get_fd(c->sk), first = 0;

    /* Never more replies in flight than the receive buffer holds (a reply
     * lost to ENOBUFS would leave its request's fate unknown). */
    if (group > c->rcvbuf / reply_size)
        group = c->rcvbuf / reply_size;
    if (group == 0)
        group = 1;

    reset(c);
    for (size_t i = 0; i < n; i++)
        errs[i] = -EIO;
    for (size_t off = 0; off < n; off += group) {
        size_t k = n - off < group ? n - off : group, len = 0, got = 0;
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ bool *seen = calloc(k, sizeof(bool));
        uint32_t base = 0;

        for (size_t i = 0; i < k; i++)
            len += NLMSG_ALIGN(nlmsg_hdr(msgs[off + i])->nlmsg_len);
        buf = malloc(len);
        if (!buf || !seen)
            return -ENOMEM;
        len = 0;
        for (size_t i = 0; i < k; i++) {
            struct nlmsghdr *h = nlmsg_hdr(msgs[off + i]);
            uint32_t seq = c->seq++;

            if (i == 0)
                base = seq;
            h->nlmsg_seq = seq;
            h->nlmsg_pid = nl_socket_get_local_port(c->sk);
            memcpy(buf + len, h, h->nlmsg_len);
            len += NLMSG_ALIGN(h->nlmsg_len);
        }
        /* The kernel runs the requests one after the other, in this call. */
        if (send(fd, buf, len, 0) < 0)
            return negative_errno();
        while (got < k) {
            union {
                char b[16384];
                struct nlmsghdr align;
            } rb;
            ssize_t r = recv(fd, rb.b, sizeof(rb.b), 0);

            if (r < 0) {
                if (errno == EINTR)
                    continue;
                /* ENOBUFS: an ack was lost; what it answered is unknown. */
                snprintf(c->message, sizeof(c->message), "reading the acks: %s",
                         strerror(errno));
                return negative_errno();
            }
            size_t left = (size_t) r;
            for (struct nlmsghdr *h = &rb.align; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                uint32_t i = h->nlmsg_seq - base;

                /* Anything but an ack of this group (none expected) is
                 * skipped: a request's result comes only from its ack. */
                if (h->nlmsg_type != NLMSG_ERROR || i >= k || seen[i] ||
                    h->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
                    continue;
                seen[i] = true;
                got++;
                errs[off + i] = e->error > 0 ? -e->error : e->error;
                if (e->error && !first) {
                    first = errs[off + i];
                    c->last_errno = -first;
                    ack_text(c, h, e);
                }
            }
        }
    }
    return first;
}

int ptap_link_configure_many(ptap_link_ctx *c, const int *ifindexes, const ptap_link_config *cfgs,
                             size_t n, int *errs)
{
    _cleanup_free_ struct nl_msg **msgs = calloc(n ? n : 1, sizeof(*msgs));
    _cleanup_free_ int *own = NULL;
    int r = 0;

    if (!msgs)
        return -ENOMEM;
    if (!errs) {
        own = calloc(n ? n : 1, sizeof(int));
        if (!own)
            return -ENOMEM;
        errs = own;
    }
    for (size_t i = 0; i < n && r == 0; i++)
        r = setlink_msg(ifindexes[i], &cfgs[i], &msgs[i]);
    if (r == 0)
        r = request_many(c, msgs, n, PIPE_MAX, ACK_SIZE, errs);
    for (size_t i = 0; i < n; i++)
        nlmsg_free(msgs[i]);
    return r;
}

int ptap_link_sync_many(ptap_link_ctx *c, const int *ifindexes, size_t n)
{
    _cleanup_free_ struct nl_msg **msgs = calloc(n ? n : 1, sizeof(*msgs));
    _cleanup_free_ int *errs = calloc(n ? n : 1, sizeof(int));
    int r = 0;

    if (!msgs || !errs)
        return -ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindexes[i] };

        msgs[i] = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK);
        if (!msgs[i] || nlmsg_append(msgs[i], &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
            nla_put_u32(msgs[i], IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0)
            r = -ENOMEM;
    }
    /* Each reply is a whole link message (~1 KiB), then the ack. */
    if (r == 0)
        r = request_many(c, msgs, n, PIPE_MAX / 4, LINK_REPLY_SIZE, errs);
    for (size_t i = 0; i < n; i++)
        nlmsg_free(msgs[i]);
    return r;
}

int ptap_link_configure(ptap_link_ctx *c, int ifindex, const ptap_link_config *cfg)
{
    return ptap_link_configure_many(c, &ifindex, cfg, 1, NULL);
}

/* --- batch delete -------------------------------------------------------- */

/* Move @n links into link group @group, pipelined; errs as request_many(). */
static int set_groups(ptap_link_ctx *c, const int *ifindexes, size_t n, uint32_t group, int *errs)
{
    _cleanup_free_ ptap_link_config *cfgs = calloc(n ? n : 1, sizeof(*cfgs));

    if (!cfgs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        cfgs[i] = (ptap_link_config) { .set_group = true, .group = group };
    return ptap_link_configure_many(c, ifindexes, cfgs, n, errs);
}

/* Put the links of @ifindexes whose errs entry is 0 (all when @errs is
 * NULL) back into group 0, keeping the error already in @c. */
static void ungroup(ptap_link_ctx *c, const int *ifindexes, size_t n, const int *errs)
{
    char saved[sizeof(c->message)];
    int saved_errno = c->last_errno;
    _cleanup_free_ int *moved = calloc(n ? n : 1, sizeof(int));
    size_t m = 0;

    memcpy(saved, c->message, sizeof(saved));
    if (moved) {
        for (size_t i = 0; i < n; i++)
            if (!errs || errs[i] == 0)
                moved[m++] = ifindexes[i];
        (void) set_groups(c, moved, m, 0, NULL);
    }
    memcpy(c->message, saved, sizeof(saved));
    c->last_errno = saved_errno;
}

/* One RTM_DELLINK: of link @ifindex, or (@ifindex 0) of link group @group. */
static int dellink(ptap_link_ctx *c, int ifindex, uint32_t group)
{
    _cleanup_(nlmsg_freep) struct nl_msg *msg = NULL;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
    int r;

    reset(c);
    msg = nlmsg_alloc_simple(RTM_DELLINK, 0);
    if (!msg)
        return -ENOMEM;
    if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
        (!ifindex && nla_put_u32(msg, IFLA_GROUP, group) < 0))
        return -ENOMEM;
    r = nl_send_sync(c->sk, TAKE_PTR(msg)); /* frees msg */
    return finish(c, r);
}

int ptap_link_delete_batch(ptap_link_ctx *c, const int *ifindexes, size_t n)
{
    return ptap_link_delete_batch_dumped(c, ifindexes, n, NULL, 0);
}

static bool group_in_use(const ptap_link_info *v, size_t n, uint32_t g)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].link_group == g)
            return true;
    return false;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *) a, y = *(const int *) b;

    return (x > y) - (x < y);
}

static uint32_t random_group(const ptap_link_info *dump, size_t n_dump)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        uint32_t rnd;

        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
            rnd = (uint32_t) rand();
        rnd = GROUP_MIN + rnd % GROUP_SPAN;
        if (!group_in_use(dump, n_dump, rnd))
            return rnd;
    }
    return 0;
}

int ptap_link_delete_batch_dumped(ptap_link_ctx *c, const int *ifindexes, size_t n,
                                  const ptap_link_info *dump, size_t n_dump)
{
    _cleanup_free_ int *errs = calloc(n ? n : 1, sizeof(int));
    int r;

    if (n == 0)
        return 0;
    if (!errs)
        return -ENOMEM;
    _cleanup_free_ int *sorted = NULL;
    /* One link: deleted by its index, which the kernel never hands to
     * another link meanwhile; no group, no dump. */
    if (n == 1)
        return dellink(c, ifindexes[0], 0);
    /* Ours, sorted: the check below looks each group member up. */
    sorted = malloc(n * sizeof(int));
    if (!sorted)
        return -ENOMEM;
    memcpy(sorted, ifindexes, n * sizeof(int));
    qsort(sorted, n, sizeof(int), cmp_int);

    /* The group is drawn at random from a range nobody uses by hand (and
     * not in @dump, when the caller has one). The check after the move is
     * what counts: a group that turns out to hold other links is left
     * again, and another one drawn. */
    for (int attempt = 0; attempt < 4; attempt++) {
        _cleanup_(ptap_link_info_freep) ptap_link_info *v = NULL;
        size_t nv = 0, members = 0;
        bool foreign = false;
        uint32_t group = random_group(dump, n_dump);

        if (!group)
            return -EBUSY;
        r = set_groups(c, ifindexes, n, group, errs);
        if (r < 0) {
            ungroup(c, ifindexes, n, errs);
            return r;
        }
        ptap_fault("link-after-group");

        /* Delete the group only if it holds exactly our links: a link that
         * joined it meanwhile (somebody else with CAP_NET_ADMIN) must not go. */
        r = ptap_link_dump_ctx(c, &v, &nv);
        if (r < 0) {
            ungroup(c, ifindexes, n, NULL);
            return r;
        }
        for (size_t i = 0; i < nv; i++)
            if (v[i].link_group == group) {
                bool ours = bsearch(&v[i].ifindex, sorted, n, sizeof(int), cmp_int) != NULL;

                foreign |= !ours;
                members += ours;
            }
        if (foreign) {
            ungroup(c, ifindexes, n, NULL);
            snprintf(c->message, sizeof(c->message), "another link joined group %u", group);
            /* In use already, or joined since: another group. */
            continue;
        }
        if (members != n) {
            ungroup(c, ifindexes, n, NULL);
            snprintf(c->message, sizeof(c->message), "a link vanished before deletion");
            return -ENODEV;
        }
        r = dellink(c, 0, group);
        if (r < 0)
            ungroup(c, ifindexes, n, NULL);
        return r;
    }
    return -EBUSY;
}
