/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>

#include "error.h"

int ptap_error_set(ptap_error *err, int code, int exit_code, const char *fmt, ...)
{
    va_list ap;

    if (!err || err->code != 0)
        return code;
    err->code = code ? code : -EIO;
    err->exit_code = exit_code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

int ptap_error_exit_code(const ptap_error *err)
{
    if (!err || err->code == 0)
        return EX_OK;
    if (err->exit_code)
        return err->exit_code;
    switch (-err->code) {
    case EINVAL:
    case ERANGE:
        return EX_USAGE;
    case ENOENT:
    case ENODEV:
    case EHOSTDOWN:
    case ECONNREFUSED:
    case ESRCH:
        return EX_UNAVAILABLE;
    case EPERM:
    case EACCES:
        return EX_NOPERM;
    case EBADMSG:
        return EX_CONFIG;
    default:
        return EX_OSERR;
    }
}
