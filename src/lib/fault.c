/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fault.h"

#ifdef PTAP_FAULT_INJECTION
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ptap_fault(const char *point)
{
    static unsigned long passes;
    const char *want = getenv("PTAP_FAULT");
    const char *colon;
    size_t len;
    unsigned long nth = 1;

    if (!want || !*want)
        return;
    colon = strchr(want, ':');
    len = colon ? (size_t) (colon - want) : strlen(want);
    if (strlen(point) != len || strncmp(point, want, len) != 0)
        return;
    if (colon)
        nth = strtoul(colon + 1, NULL, 10);
    if (++passes < nth)
        return;
    kill(getpid(), SIGKILL);
    _exit(137); /* not reached */
}
#endif
