/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fault.h"

#ifdef PTAP_FAULT_INJECTION
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char saved[128];
static int saved_set;

void ptap_fault_init(void)
{
    const char *v = getenv("PTAP_FAULT");

    snprintf(saved, sizeof(saved), "%s", v ? v : "");
    saved_set = 1;
}

void ptap_fault(const char *point)
{
    static unsigned long passes;
    const char *want = saved_set ? saved : getenv("PTAP_FAULT");
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
