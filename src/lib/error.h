/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * error.h: how libptap's operations explain a failure to the one layer
 * that talks to the user. A function that can fail for a reason worth
 * telling takes a ptap_error *: it returns -errno as always, and fills in
 * a message naming the object and the reason (the helper's, QEMU's or
 * libvirt's own words quoted), plus the sysexits code that fits.
 */
#pragma once

#include <stdarg.h>
#include <sysexits.h>

#include "util.h"

#define PTAP_ERROR_MAX 1024

typedef struct ptap_error {
    int code;                    /* -errno of the failure, 0 if none */
    int exit_code;               /* sysexits hint, 0 = derive from code */
    char msg[PTAP_ERROR_MAX];    /* "" if none */
} ptap_error;

/**
 * ptap_error_set: record a failure (first one wins: the root cause is the
 * message the user needs, not the rollback's). NULL @err is allowed.
 * Returns @code, so callers can write: return ptap_error_set(err, r, ...);
 */
int ptap_error_set(ptap_error *err, int code, int exit_code, const char *fmt, ...) _printf_(4, 5);

/** ptap_error_exit_code: the process exit code for @err (sysexits). */
int ptap_error_exit_code(const ptap_error *err);
