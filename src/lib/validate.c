/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <pwd.h>
#include <grp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"
#include "validate.h"

#define WHY(msg)          \
    do {                  \
        if (why)          \
            *why = (msg); \
    } while (0)

int ptap_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (!s || !*s || !isdigit((unsigned char) s[0]))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

bool ptap_ifname_is_template(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    return n >= 2 && strcmp(name + n - 2, "%d") == 0;
}

int ptap_ifname_check(const char *name, bool allow_template, const char **why)
{
    size_t n;
    const char *pct;

    if (!name || !*name) {
        WHY("empty interface name");
        return -EINVAL;
    }
    n = strnlen(name, IFNAMSIZ);
    if (n >= IFNAMSIZ) {
        WHY("interface name too long (at most 15 bytes)");
        return -EINVAL;
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        WHY("'.' and '..' are not interface names");
        return -EINVAL;
    }
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char) *p;

        if (c == '/' || c == ':' || isspace(c) || c < 0x20 || c >= 0x7f) {
            WHY("interface name contains a forbidden character");
            return -EINVAL;
        }
    }
    pct = strchr(name, '%');
    if (pct) {
        if (!allow_template) {
            WHY("'%' is not allowed in an interface name here");
            return -EINVAL;
        }
        if (strcmp(pct, "%d") != 0) {
            WHY("a template must contain a single '%d', at its end");
            return -EINVAL;
        }
        /* The kernel substitutes a number of up to 10 digits only if the
         * result still fits; refuse a template that cannot. */
        if (n - 2 + 1 >= IFNAMSIZ) {
            WHY("template leaves no room for the number");
            return -EINVAL;
        }
    }
    return 0;
}

int ptap_mac_parse(const char *s, uint8_t mac[PTAP_MAC_LEN], const char **why)
{
    uint8_t m[PTAP_MAC_LEN];
    bool zero = true;

    if (!s || strlen(s) != PTAP_MAC_STRLEN - 1) {
        WHY("a MAC address is six hex octets separated by ':'");
        return -EINVAL;
    }
    for (int i = 0; i < PTAP_MAC_LEN; i++) {
        const char *o = s + 3 * i;
        char hex[3] = { o[0], o[1], 0 };

        if (!isxdigit((unsigned char) o[0]) || !isxdigit((unsigned char) o[1]) ||
            (i < PTAP_MAC_LEN - 1 && o[2] != ':')) {
            WHY("a MAC address is six hex octets separated by ':'");
            return -EINVAL;
        }
        m[i] = (uint8_t) strtoul(hex, NULL, 16);
        if (m[i])
            zero = false;
    }
    if (m[0] & 1) {
        WHY("multicast/broadcast MAC address (a NIC needs a unicast one)");
        return -EINVAL;
    }
    if (zero) {
        WHY("all-zero MAC address");
        return -EINVAL;
    }
    memcpy(mac, m, PTAP_MAC_LEN);
    return 0;
}

void ptap_mac_format(const uint8_t mac[PTAP_MAC_LEN], char buf[PTAP_MAC_STRLEN])
{
    snprintf(buf, PTAP_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x",
             mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

int ptap_tag_check(const char *tag, const char **why)
{
    size_t n = tag ? strnlen(tag, PTAP_TAG_MAX + 1) : 0;

    if (n == 0 || n > PTAP_TAG_MAX) {
        WHY("a tag is 1 to 64 characters");
        return -EINVAL;
    }
    for (const char *p = tag; *p; p++)
        if (!isalnum((unsigned char) *p) && !strchr("._:-", *p)) {
            WHY("a tag may contain only letters, digits and '._:-'");
            return -EINVAL;
        }
    return 0;
}

int ptap_qemu_id_check(const char *id, const char **why)
{
    size_t n = id ? strnlen(id, PTAP_QEMU_ID_MAX) : 0;

    if (n == 0 || n >= PTAP_QEMU_ID_MAX) {
        WHY("an id is 1 to 63 characters");
        return -EINVAL;
    }
    if (!isalpha((unsigned char) id[0])) {
        WHY("an id must start with a letter");
        return -EINVAL;
    }
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char) *p) && !strchr("._-", *p)) {
            WHY("an id may contain only letters, digits and '._-'");
            return -EINVAL;
        }
    return 0;
}

int ptap_user_by_name(const char *name, uid_t *ret)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int r;

    r = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
    if (r != 0)
        return -r;
    if (!res)
        return -ENOENT;
    *ret = pw.pw_uid;
    return 0;
}

int ptap_group_by_name(const char *name, gid_t *ret)
{
    struct group gr, *res = NULL;
    _cleanup_free_ char *buf = NULL;
    size_t size = 16384;
    int r;

    /* Group entries list their members and can be large. */
    for (;;) {
        free(buf);
        buf = malloc(size);
        if (!buf)
            return -ENOMEM;
        r = getgrnam_r(name, &gr, buf, size, &res);
        if (r != ERANGE || size >= (1u << 22))
            break;
        size *= 4;
    }
    if (r != 0)
        return -r;
    if (!res)
        return -ENOENT;
    *ret = gr.gr_gid;
    return 0;
}

int ptap_parse_user(const char *s, uid_t *ret)
{
    uint64_t v;

    if (!s || !*s)
        return -EINVAL;
    /* A number is an id as is; (uid_t)-1 means "none" to the kernel. */
    if (isdigit((unsigned char) s[0]))
        return ptap_parse_uint(s, 0, UINT32_MAX - 1, &v) < 0 ? -EINVAL : (*ret = (uid_t) v, 0);
    return ptap_user_by_name(s, ret);
}

int ptap_parse_group(const char *s, gid_t *ret)
{
    uint64_t v;

    if (!s || !*s)
        return -EINVAL;
    if (isdigit((unsigned char) s[0]))
        return ptap_parse_uint(s, 0, UINT32_MAX - 1, &v) < 0 ? -EINVAL : (*ret = (gid_t) v, 0);
    return ptap_group_by_name(s, ret);
}

int ptap_mac_bridge_check(const uint8_t mac[PTAP_MAC_LEN], const uint8_t *bridge_mac,
                          const char **why)
{
    const char *dummy;

    if (!why)
        why = &dummy;
    if (mac[0] != PTAP_TAP_MAC_OCTET0) {
        *why = "a tap's MAC on a bridge must begin with fe: a lower one could become the "
               "bridge's own address";
        return -EINVAL;
    }
    if (bridge_mac && memcmp(mac, bridge_mac, PTAP_MAC_LEN) <= 0) {
        *why = "it is not above the bridge's own address, which it would replace";
        return -EINVAL;
    }
    return 0;
}

/* Octets 1..5 of a MAC as a 40-bit number, and back. */
static uint64_t mac_low40(const uint8_t mac[PTAP_MAC_LEN])
{
    uint64_t v = 0;

    for (int i = 1; i < PTAP_MAC_LEN; i++)
        v = v << 8 | mac[i];
    return v;
}

int ptap_mac_tap_random(uint8_t mac[PTAP_MAC_LEN], const uint8_t *bridge_mac)
{
    uint64_t rnd = 0, floor = 0, room, top = (UINT64_C(1) << 40) - 1;

    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        return negative_errno();
    /* Uniform above the bridge's address when it begins with fe too (a
     * bridge whose ports are all taps), anywhere otherwise: never a draw
     * that could fail by chance. */
    if (bridge_mac && bridge_mac[0] == PTAP_TAP_MAC_OCTET0) {
        floor = mac_low40(bridge_mac) + 1;
        if (floor > top)
            return -EADDRNOTAVAIL; /* the bridge is at fe:ff:ff:ff:ff:ff */
    } else if (bridge_mac && bridge_mac[0] > PTAP_TAP_MAC_OCTET0) {
        return -EADDRNOTAVAIL;     /* ff:...: multicast, not a bridge's */
    }
    room = top - floor + 1;
    rnd = floor + rnd % room;
    mac[0] = PTAP_TAP_MAC_OCTET0;
    for (int i = PTAP_MAC_LEN - 1; i >= 1; i--) {
        mac[i] = (uint8_t) rnd;
        rnd >>= 8;
    }
    return 0;
}

bool ptap_is_uuid(const char *s)
{
    size_t n = 0;

    for (; s && *s; s++) {
        if (*s == '-')
            continue;
        if (!isxdigit((unsigned char) *s))
            return false;
        n++;
    }
    return n == 32;
}
