#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""qmp_anchor: the raw QMP round trip ptap's `attach qmp:` is measured against.

  qmp_anchor.py attach SOCK TAP ID MAC
      connect, greeting, qmp_capabilities, netdev_add (tap by ifname,
      script=no,downscript=no), device_add virtio-net-pci; prints
      "ms=M t0_us=T" (M: from before connect to device_add's reply, the
      interpreter's start not counted; T: that start, wall clock, in
      microseconds, to time the guest from)
  qmp_anchor.py detach SOCK ID [TIMEOUT_S]
      device_del, wait for the DEVICE_DELETED event naming ID, netdev_del
Exit status 1 (with QEMU's error on stderr) when a command fails.
"""
import json
import socket
import sys
import time


class Qmp:
    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        self.recv()  # the greeting
        self.cmd("qmp_capabilities")

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.recv()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise RuntimeError("%s: %s" % (name, r["error"].get("desc", r["error"])))
            return r.get("return")

    def wait_event(self, name, device, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e["event"] == name and e.get("data", {}).get("device") == device:
                    return
            self.events.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("no %s for %s within %ss" % (name, device, timeout))
            self.sock.settimeout(left)
            r = self.recv()
            if "event" in r:
                self.events.append(r)


def main(argv):
    if len(argv) >= 6 and argv[1] == "attach":
        sock, tap, dev, mac = argv[2:6]
        wall0 = time.time()
        t0 = time.monotonic()
        q = Qmp(sock)
        q.cmd("netdev_add", type="tap", id=dev + "-net", ifname=tap,
              script="no", downscript="no")
        q.cmd("device_add", driver="virtio-net-pci", id=dev, netdev=dev + "-net", mac=mac)
        t1 = time.monotonic()
        print("ms=%.3f t0_us=%d" % ((t1 - t0) * 1000, wall0 * 1e6))
        return 0
    if len(argv) >= 4 and argv[1] == "detach":
        sock, dev = argv[2:4]
        timeout = float(argv[4]) if len(argv) > 4 else 30.0
        q = Qmp(sock)
        q.cmd("device_del", id=dev)
        q.wait_event("DEVICE_DELETED", dev, timeout)
        q.cmd("netdev_del", id=dev + "-net")
        return 0
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, RuntimeError, ValueError) as e:
        print("qmp_anchor: %s" % e, file=sys.stderr)
        sys.exit(1)
