#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""seal.py [IN OUT]: write IN (a journal, version 1 or hand-written) to OUT
with every complete line sealed as format version 2 writes it: ' crc="X"'
after the element's name, X the CRC-32C of the line without it (and
without its newline); 'version="1"' in the header becomes "2". A line
that already has a crc gets a fresh one. Bytes after the last newline (a
torn record) are copied as they are. For the hand-made version 2 inputs
of tests/data/journal (damage is added after sealing), and for records
that tests write by hand: without arguments, a filter (standard input to
standard output; `>> journal.xml` appends, where a reopened /dev/stdout
would truncate)."""
import re
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def seal(line):
    m = re.match(rb'(<tap|<ptap-journal)( crc="[0-9a-f]{8}")?', line)
    if not m:
        return line
    start, rest = m.group(1), line[m.end():]
    if start == b"<ptap-journal":
        rest = rest.replace(b'version="1"', b'version="2"', 1)
    bare = start + rest
    return start + b' crc="%08x"' % crc32c(bare) + rest


def main():
    if len(sys.argv) == 3:
        data = open(sys.argv[1], "rb").read()
    else:
        data = sys.stdin.buffer.read()
    *lines, tail = data.split(b"\n")
    out = b"".join(seal(l) + b"\n" for l in lines) + tail
    if len(sys.argv) == 3:
        open(sys.argv[2], "wb").write(out)
    else:
        sys.stdout.buffer.write(out)


if __name__ == "__main__":
    main()
