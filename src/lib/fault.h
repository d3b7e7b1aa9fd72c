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
#else
static inline void ptap_fault(const char *point)
{
    (void) point;
}
#endif
