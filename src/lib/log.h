/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.h: libptap never prints. It reports debug detail through one hook
 * the caller installs (the ptap command routes it to stderr with
 * --verbose; the helper to syslog).
 */
#pragma once

#include <syslog.h>
#include "util.h"

typedef void (*ptap_log_fn)(int priority, const char *message, void *userdata);

/**
 * ptap_log_set_handler: install the logging hook.
 * @fn: called for every message, or NULL to discard them
 * @userdata: passed back to @fn
 */
void ptap_log_set_handler(ptap_log_fn fn, void *userdata);

/**
 * ptap_log: format and hand a message to the hook (no-op without one).
 * @priority: a syslog priority (LOG_DEBUG for library internals)
 */
void ptap_log(int priority, const char *fmt, ...) _printf_(2, 3);

#define ptap_debug(...) ptap_log(LOG_DEBUG, __VA_ARGS__)
