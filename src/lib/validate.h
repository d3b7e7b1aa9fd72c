/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * validate.h: the one implementation of input validation shared by the
 * privileged helper and the ptap command. Validate, never truncate.
 * Every function returns 0 when the input is acceptable, -EINVAL (or
 * -ERANGE for numbers out of range) otherwise; @why, when not NULL, is set
 * to a static string naming the reason, for the caller's message.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>
#include <sys/types.h>

#define PTAP_MAC_LEN 6
#define PTAP_MAC_STRLEN 18 /* "52:54:00:12:34:56" + NUL */
#define PTAP_MTU_MIN 68
#define PTAP_MTU_MAX 65521 /* tun's MAX_MTU */
#define PTAP_COUNT_MAX 16384 /* taps one create makes (one helper run) */
#define PTAP_TAG_MAX 64
#define PTAP_QEMU_ID_MAX 64

/**
 * ptap_parse_uint: parse a whole decimal number within [@min, @max].
 * No sign, no leading/trailing garbage, no empty string, no overflow.
 * Returns 0, -EINVAL (not a number) or -ERANGE (out of range).
 */
int ptap_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/**
 * ptap_ifname_check: an interface name the kernel would accept as is:
 * 1..IFNAMSIZ-1 bytes, no '/', ':', whitespace or control characters,
 * not "." or "..". With @allow_template, one "%d" is allowed and must
 * end the name (the kernel picks the number).
 */
int ptap_ifname_check(const char *name, bool allow_template, const char **why);

/** ptap_ifname_is_template: true when @name ends in "%d". */
bool ptap_ifname_is_template(const char *name);

/**
 * ptap_mac_parse: parse "xx:xx:xx:xx:xx:xx" (hex, 6 octets, colons) into
 * @mac. Refuses multicast/broadcast and all-zero addresses.
 */
int ptap_mac_parse(const char *s, uint8_t mac[PTAP_MAC_LEN], const char **why);

/*
 * A bridge takes the lowest MAC of its ports as its own (unless an admin
 * set one), so a tap's MAC must never be able to become its bridge's: as
 * libvirt and qemu-bridge-helper do, a tap on a bridge has a MAC whose
 * first octet is 0xfe, and it must also sort above the bridge's address.
 */
#define PTAP_TAP_MAC_OCTET0 0xfe

/**
 * ptap_mac_bridge_check: may a tap with @mac join a bridge whose address
 * is @bridge_mac (NULL: unknown)? 0, or -EINVAL with @why.
 */
int ptap_mac_bridge_check(const uint8_t mac[PTAP_MAC_LEN], const uint8_t *bridge_mac,
                          const char **why);

/**
 * ptap_mac_tap_random: a random tap MAC fe:xx:xx:xx:xx:xx that passes
 * ptap_mac_bridge_check() against @bridge_mac (NULL: any). Returns 0 or
 * a negative errno (getrandom).
 */
int ptap_mac_tap_random(uint8_t mac[PTAP_MAC_LEN], const uint8_t *bridge_mac);

/** ptap_mac_format: format @mac into @buf (PTAP_MAC_STRLEN bytes). */
void ptap_mac_format(const uint8_t mac[PTAP_MAC_LEN], char buf[PTAP_MAC_STRLEN]);

/**
 * ptap_tag_check: a provenance tag (journal/batch identity carried in the
 * tap's mark, see mark.h): 1..PTAP_TAG_MAX bytes of [A-Za-z0-9._:-].
 */
int ptap_tag_check(const char *tag, const char **why);

/**
 * ptap_qemu_id_check: an id safe to put in a QEMU command line or QMP
 * argument: starts with a letter, then [A-Za-z0-9._-], < PTAP_QEMU_ID_MAX.
 * (QEMU's own id_wellformed() rule; also excludes ',' and '=' which would
 * let a caller inject options.)
 */
int ptap_qemu_id_check(const char *id, const char **why);

/**
 * ptap_is_uuid: @s reads as a UUID: 32 hex digits, dashes anywhere
 * (libvirt accepts it so for a domain).
 */
bool ptap_is_uuid(const char *s);

/**
 * ptap_user_by_name / ptap_group_by_name: resolve a name through NSS.
 * Returns 0, -ENOENT (no such user/group) or another negative errno.
 */
int ptap_user_by_name(const char *name, uid_t *ret);
int ptap_group_by_name(const char *name, gid_t *ret);

/**
 * ptap_parse_user / ptap_parse_group: a user (group) given as a number
 * (any id but (uid_t)-1) or as a name. Returns 0, -EINVAL (bad number or
 * empty), -ENOENT (unknown name).
 */
int ptap_parse_user(const char *s, uid_t *ret);
int ptap_parse_group(const char *s, gid_t *ret);
