/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault.h: named crash points for the crash-proofing tests.
 *
 * Built with -DPTAP_FAULT_INJECTION=ON, ptap_fault("journal-after-intent")
 * kills the process with SIGKILL when the environment variable PTAP_FAULT
 * names that point (optionally "POINT:N" to die at its N-th passage).
 * In normal builds it compiles to nothing.
 */
#pragma once

#ifdef PTAP_FAULT_INJECTION
void ptap_fault(const char *point);
/* ptap_fault_init: read PTAP_FAULT now, for a program that is about to
 * clear its environment (the helper). */
void ptap_fault_init(void);
#else
static inline void ptap_fault(const char *point)
{
    (void) point;
}
static inline void ptap_fault_init(void)
{
}
#endif
