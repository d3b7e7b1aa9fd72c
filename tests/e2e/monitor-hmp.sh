#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# e2e: libptap's monitor layer over HMP against a real QEMU 7.2 guest:
# hot-add (guest sees the NIC, pings both ways), injection refusals, QEMU's
# errors (tap of another user, duplicate id, busy tap) with rollback, a
# 2-queue NIC, hot-remove, re-attach. Body: lib/monitor-e2e.sh.
MON_KIND=hmp
. "$PTAP_SOURCE_DIR/tests/e2e/lib/monitor-e2e.sh"
