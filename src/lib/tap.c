/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "fault.h"
#include "log.h"
#include "tap.h"
#include "util.h"

#ifndef IFF_NO_CARRIER
#define IFF_NO_CARRIER 0x0040 /* Linux 6.0 */
#endif

unsigned short ptap_tap_flags(const ptap_tap_params *p)
{
    unsigned short flags = IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL;

    if (p->multi_queue)
        flags |= IFF_MULTI_QUEUE;
    if (p->vnet_hdr)
        flags |= IFF_VNET_HDR;
    return flags;
}

int ptap_tap_open(const ptap_tap_params *p, int *ret_fd, char ret_name[IFNAMSIZ])
{
    _cleanup_close_ int fd = -1;
    struct ifreq ifr = { 0 };
    size_t n = strlen(p->name);
    int no_carrier = p->no_carrier;

    if (n == 0 || n >= IFNAMSIZ)
        return -EINVAL;
    fd = open(PTAP_TUN_PATH, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return negative_errno();
    memcpy(ifr.ifr_name, p->name, n);
    ifr.ifr_flags = (short) ptap_tap_flags(p);
    /* No carrier while ptap holds it, where the kernel lists the flag in
     * TUNGETFEATURES. Only this TUNSETIFF: a guest's attach (which asks
     * without it) brings the carrier up. */
    if (p->no_carrier) {
        unsigned int features = 0;

        if (ioctl(fd, TUNGETFEATURES, &features) == 0 && (features & IFF_NO_CARRIER))
            ifr.ifr_flags |= IFF_NO_CARRIER;
        else
            no_carrier = 0;
    }
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return negative_errno();
    ptap_fault("tap-after-setiff");
    /* The kernel fills in the final name (templates). */
    ifr.ifr_name[IFNAMSIZ - 1] = '\0';
    if (p->owner != (uid_t) -1 && ioctl(fd, TUNSETOWNER, (unsigned long) p->owner) < 0)
        return negative_errno();
    if (p->group != (gid_t) -1 && ioctl(fd, TUNSETGROUP, (unsigned long) p->group) < 0)
        return negative_errno();
    ptap_debug("tap '%s' opened (flags 0x%x)", ifr.ifr_name, (unsigned) (unsigned short) ifr.ifr_flags);
    memcpy(ret_name, ifr.ifr_name, IFNAMSIZ);
    *ret_fd = TAKE_FD(fd);
    return no_carrier;
}

int ptap_tap_persist(int fd)
{
    if (ioctl(fd, TUNSETPERSIST, 1UL) < 0)
        return negative_errno();
    return 0;
}
