/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static ptap_log_fn log_fn;
static void *log_userdata;

void ptap_log_set_handler(ptap_log_fn fn, void *userdata)
{
    log_fn = fn;
    log_userdata = userdata;
}

void ptap_log(int priority, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (!log_fn)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_fn(priority, buf, log_userdata);
}
