#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""
old-qemu-hmp.py: a FAKE of QEMU 0.12's human monitor, for tests only.

It is not QEMU. It speaks the monitor protocol of QEMU 0.12.5 on a unix
socket (as `-monitor unix:PATH,server,nowait` would) with the commands a
hot-plug tool of that era used, and prints what QEMU 0.12's sources printed
(net.c, net/tap-linux.c, hw/pci-hotplug.c, monitor.c; see ../shared/TESTBED.md):

  host_net_add tap vlan=N,name=ID,ifname=TAP,script=no,downscript=no
      success: nothing. Unknown type: "invalid host network device X".
      The fake REALLY opens /dev/net/tun and asks for TAP with TUNSETIFF, as
      QEMU did, so a tap owned by another user fails the way it did:
        could not configure /dev/net/tun (TAP): Operation not permitted
        adding host network device tap failed
      and an unopenable /dev/net/tun (--tun PATH) gives
        could not open /dev/net/tun: No such file or directory
  host_net_remove VLAN NAME   success: nothing; "can't find device NAME";
                              "invalid host network device NAME" for a NIC
  pci_add pci_addr=auto nic model=M,macaddr=MAC,vlan=N
      success: "OK domain 0, bus 0, slot S, function 0";
      failure: "failed to add model=..."; bad address: "Invalid pci address"
  pci_del [[DOMAIN:]BUS:]SLOT   success: nothing (the slot empties a moment
                                later, when the "guest" ejects it); "slot N empty"
  info network | info pci | info version | help [CMD] | quit
  anything else: "unknown command: 'NAME'" (netdev_add, device_add... did
  not exist in 0.12).

Each reply ends with the "(qemu) " prompt; typed lines are echoed back.
Like QEMU, it serves one monitor client at a time.

State: after every change the fake writes its state as JSON to --state FILE
({"vlans": {"0": [{"name":..., "type":"tap"|"nic"|"user", ...}]}, "pci":
{"3": {...}}, "taps_open": ["ptap0"]}) so a test can assert what exists.

Usage: old-qemu-hmp.py --socket PATH [--state FILE] [--tun /dev/net/tun]
                       [--eject-delay 0.2] [--pidfile FILE] [--max-slot 31]
                       [--log FILE (every command line received)]
"""
import argparse
import array
import fcntl
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import time

VERSION = "0.12.5"
BANNER = "QEMU %s monitor - type 'help' for more information" % VERSION
PROMPT = "(qemu) "

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

# Model names QEMU 0.12's pci_nic_init knew, and their PCI ids.
NIC_MODELS = {
    "virtio": ("1af4:1000", "virtio-net-pci"),
    "e1000": ("8086:100e", "e1000"),
    "rtl8139": ("10ec:8139", "rtl8139"),
    "ne2k_pci": ("10ec:8029", "ne2k_pci"),
    "i82551": ("8086:1209", "i82551"),
    "i82557b": ("8086:1229", "i82557b"),
    "i82559er": ("8086:1209", "i82559er"),
    "pcnet": ("1022:2000", "pcnet"),
}

HELP = [
    ("help|?", "[cmd]", "show the help"),
    ("info", "[subcommand]", "show various information about the system state"),
    ("quit|q", "", "quit the emulator"),
    ("pci_add", "auto|[[<domain>:]<bus>:]<slot> nic|storage [[vlan=n][,macaddr=addr][,model=type]] [file=file][,if=type][,bus=nr]...",
     "hot-add PCI device"),
    ("pci_del", "[[<domain>:]<bus>:]<slot>", "hot remove PCI device"),
    ("host_net_add", "tap|user|socket|vde|dump [options]", "add host VLAN client"),
    ("host_net_remove", "vlan_id name", "remove host VLAN client"),
]


class Fake:
    def __init__(self, args):
        self.args = args
        # vlan id -> list of clients {"name", "type", "info", ...}
        self.vlans = {0: [
            {"name": "user.0", "type": "user", "info": "net=10.0.2.0, restricted=n"},
            {"name": "e1000.0", "type": "nic", "info": "model=e1000,macaddr=52:54:00:12:34:56"},
        ]}
        # slot -> device (slots 0-2 and the built-in NIC, like a 0.12 "pc")
        self.pci = {
            0: {"class": "Host bridge", "id": "8086:1237"},
            1: {"class": "ISA bridge", "id": "8086:7000"},
            2: {"class": "VGA controller", "id": "1013:00b8"},
            3: {"class": "Ethernet controller", "id": "8086:100e", "vlan": 0, "nic": "e1000.0"},
        }
        self.tap_fds = {}       # client name -> fd of the open tap
        self.ejecting = {}      # slot -> time the "guest" releases it
        self.nic_count = {}
        self.save()

    # ---- state ----
    def save(self):
        if not self.args.state:
            return
        st = {
            "version": VERSION,
            "vlans": {str(v): [dict(c) for c in cl] for v, cl in sorted(self.vlans.items())},
            "pci": {str(s): dict(d) for s, d in sorted(self.pci.items())},
            "ejecting": sorted(self.ejecting),
            "taps_open": sorted(c["ifname"] for cl in self.vlans.values() for c in cl
                                if c["type"] == "tap"),
        }
        tmp = self.args.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(st, f, indent=1, sort_keys=True)
        os.replace(tmp, self.args.state)

    def tick(self):
        now = time.monotonic()
        done = [s for s, t in self.ejecting.items() if t <= now]
        for s in done:
            dev = self.pci.pop(s, None)
            del self.ejecting[s]
            if dev and "nic" in dev:
                for cl in self.vlans.values():
                    cl[:] = [c for c in cl if c["name"] != dev["nic"]]
        if done:
            self.save()

    # ---- helpers ----
    @staticmethod
    def params(text):
        """QemuOpts parsing as QEMU 0.12's qemu_opts_parse() did it: a name
        runs to '=' or ','; a value runs to the next single ',' and ",,"
        stands for a literal ',' (get_opt_value()); the last of two equal
        names wins (qemu_opt_find() looks from the end)."""
        out = {}
        i, n = 0, len(text)
        while i < n:
            j = i
            while j < n and text[j] not in "=,":
                j += 1
            name = text[i:j]
            value = ""
            if j < n and text[j] == "=":
                j += 1
                buf = []
                while j < n:
                    if text[j] == ",":
                        if j + 1 < n and text[j + 1] == ",":
                            buf.append(",")
                            j += 2
                            continue
                        break
                    buf.append(text[j])
                    j += 1
                value = "".join(buf)
            if name:
                out[name] = value
            i = j + 1
        return out

    def open_tap(self, ifname):
        """What QEMU 0.12's tap_open() did for ifname=: returns (fd, error)."""
        try:
            fd = os.open(self.args.tun, os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            return None, "could not open %s: %s" % ("/dev/net/tun", os.strerror(e.errno))
        ifr = struct.pack("16sH22x", ifname.encode()[:15], IFF_TAP | IFF_NO_PI)
        try:
            fcntl.ioctl(fd, TUNSETIFF, ifr)
        except OSError as e:
            os.close(fd)
            return None, "could not configure /dev/net/tun (%s): %s" % (ifname, os.strerror(e.errno))
        return fd, None

    # ---- commands ----
    def cmd_host_net_add(self, args):
        if not args:
            return "host_net_add: missing argument\n"
        device = args[0]
        opts = args[1] if len(args) > 1 else ""
        if device not in ("tap", "user", "socket", "vde", "dump"):
            return "invalid host network device %s\n" % device
        p = self.params(opts)
        if device != "tap":
            return "adding host network device %s failed\n" % device
        try:
            vlan = int(p.get("vlan", "0"), 0)
        except ValueError:
            return "adding host network device %s failed\n" % device
        ifname = p.get("ifname", "tap%d")
        name = p.get("name") or "tap.%d" % len(self.tap_fds)
        fd, err = self.open_tap(ifname)
        if err:
            return err + "\nadding host network device %s failed\n" % device
        self.tap_fds[name] = fd
        self.vlans.setdefault(vlan, []).append({
            "name": name, "type": "tap", "ifname": ifname,
            "info": "ifname=%s,script=%s,downscript=%s" % (
                ifname, p.get("script", "/etc/qemu-ifup"), p.get("downscript", "/etc/qemu-ifdown")),
        })
        self.save()
        return ""

    def cmd_host_net_remove(self, args):
        if len(args) < 2:
            return "host_net_remove: missing argument\n"
        try:
            vlan = int(args[0], 0)
        except ValueError:
            return "invalid parameter\n"
        name = args[1]
        cl = self.vlans.get(vlan)
        if cl is None:
            return "can't find device %s\n" % name
        for c in cl:
            if c["name"] == name:
                if c["type"] == "nic":
                    return "invalid host network device %s\n" % name
                cl.remove(c)
                fd = self.tap_fds.pop(name, None)
                if fd is not None:
                    os.close(fd)
                if not cl:
                    del self.vlans[vlan]
                self.save()
                return ""
        return "can't find device %s\n" % name

    def free_slot(self):
        for s in range(4, self.args.max_slot + 1):
            if s not in self.pci:
                return s
        return None

    def cmd_pci_add(self, args):
        if len(args) < 2:
            return "pci_add: missing argument\n"
        addr, typ = args[0], args[1]
        opts = args[2] if len(args) > 2 else ""
        m = re.fullmatch(r"(?:pci_addr=)?(auto|(?:(?:[0-9a-fA-F]+:)?[0-9a-fA-F]+:)?[0-9a-fA-F]+)", addr)
        if not m:
            return "Invalid pci address\n"
        if typ != "nic":
            return "invalid type: %s\n" % typ
        p = self.params(opts)
        bad = [k for k in p if k not in ("vlan", "name", "macaddr", "model", "addr")]
        if bad:
            return "invalid parameter '%s' in '%s'\nfailed to add %s\n" % (bad[0], opts, opts)
        model = p.get("model", "ne2k_pci")
        if model not in NIC_MODELS:
            return "qemu: Unsupported NIC model: %s\nfailed to add %s\n" % (model, opts)
        mac = p.get("macaddr", "52:54:00:12:34:57")
        if not re.fullmatch(r"([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}", mac):
            return "invalid syntax for ethernet address\nfailed to add %s\n" % opts
        try:
            vlan = int(p.get("vlan", "0"), 0)
        except ValueError:
            return "failed to add %s\n" % opts
        if m.group(1) == "auto":
            slot = self.free_slot()
        else:
            slot = int(m.group(1).split(":")[-1], 16)
            if slot in self.pci:
                slot = None
        if slot is None:
            return "failed to add %s\n" % opts
        n = self.nic_count.get(model, 0)
        self.nic_count[model] = n + 1
        name = p.get("name") or "%s.%d" % (model, n)
        self.vlans.setdefault(vlan, []).append({
            "name": name, "type": "nic", "mac": mac.lower(), "slot": slot,
            "info": "model=%s,macaddr=%s" % (NIC_MODELS[model][1], mac.lower()),
        })
        self.pci[slot] = {"class": "Ethernet controller", "id": NIC_MODELS[model][0],
                          "vlan": vlan, "nic": name, "mac": mac.lower()}
        self.save()
        return "OK domain 0, bus 0, slot %d, function 0\n" % slot

    def cmd_pci_del(self, args):
        if not args:
            return "pci_del: missing argument\n"
        m = re.fullmatch(r"(?:(?:[0-9a-fA-F]+:)?[0-9a-fA-F]+:)?([0-9a-fA-F]+)", args[0])
        if not m:
            return "Invalid pci address\n"
        slot = int(m.group(1), 16)
        if slot not in self.pci:
            return "slot %d empty\n" % slot
        # Only a request: the guest ejects the device a little later.
        if slot not in self.ejecting:
            self.ejecting[slot] = time.monotonic() + self.args.eject_delay
            self.save()
        return ""

    def info_network(self):
        out = []
        for v in sorted(self.vlans):
            out.append("VLAN %d devices:\n" % v)
            for c in self.vlans[v]:
                out.append("  %s: %s\n" % (c["name"], c["info"]))
        out.append("Devices not on any VLAN:\n")
        return "".join(out)

    def info_pci(self):
        out = []
        for s in sorted(self.pci):
            d = self.pci[s]
            out.append("  Bus  0, device %3d, function 0:\n" % s)
            out.append("    %s: PCI device %s\n" % (d["class"], d["id"]))
            if d["class"] == "Ethernet controller":
                out.append("      IRQ 11.\n")
                out.append("      BAR0: I/O at 0x%04x [0x%04x].\n" % (0xc000 + s * 0x20, 0xc01f + s * 0x20))
            out.append('      id ""\n')
        return "".join(out)

    def cmd_info(self, args):
        what = args[0] if args else ""
        if what == "network":
            return self.info_network()
        if what == "pci":
            return self.info_pci()
        if what == "version":
            return VERSION + "\n"
        if what == "":
            return "info network  -- show the network state\ninfo pci  -- show PCI info\ninfo version  -- show the version of QEMU\n"
        # 0.12 printed the info help for an unknown subcommand.
        return "info network  -- show the network state\ninfo pci  -- show PCI info\ninfo version  -- show the version of QEMU\n"

    def cmd_help(self, args):
        name = args[0] if args else None
        out = []
        for names, params, text in HELP:
            if name is None or name in names.split("|"):
                out.append("%s %s -- %s\n" % (names, params, text))
        # 0.12 prints nothing for a command it does not know.
        return "".join(out)

    def run_line(self, line):
        words = line.split()
        if not words:
            return ""
        cmd, args = words[0], words[1:]
        table = {
            "host_net_add": self.cmd_host_net_add,
            "host_net_remove": self.cmd_host_net_remove,
            "pci_add": self.cmd_pci_add,
            "pci_del": self.cmd_pci_del,
            "info": self.cmd_info,
            "help": self.cmd_help,
            "?": self.cmd_help,
        }
        if cmd in ("quit", "q"):
            raise SystemExit(0)
        fn = table.get(cmd)
        if not fn:
            return "unknown command: '%s'\n" % cmd
        return fn(args)


def crlf(s):
    return s.replace("\n", "\r\n").encode()


def serve(fake, sock):
    while True:
        fake.tick()
        r, _, _ = select.select([sock], [], [], 0.05)
        if not r:
            continue
        conn, _ = sock.accept()
        conn.setblocking(False)
        conn.sendall(crlf(BANNER + "\n" + PROMPT))
        buf = b""
        alive = True
        while alive:
            fake.tick()
            r, _, _ = select.select([conn], [], [], 0.05)
            if not r:
                continue
            try:
                data = conn.recv(4096)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                break
            buf += data
            while b"\n" in buf or b"\r" in buf:
                i = min(x for x in (buf.find(b"\n"), buf.find(b"\r")) if x >= 0)
                line, buf = buf[:i], buf[i + 1:]
                text = line.decode("latin-1")
                if fake.args.log:
                    with open(fake.args.log, "a") as f:
                        f.write(text + "\n")
                try:
                    reply = fake.run_line(text)
                except SystemExit:
                    conn.close()
                    raise
                try:
                    # The readline echo, then the output, then a prompt.
                    conn.setblocking(True)
                    conn.sendall(crlf(text + "\x1b[K\n") + crlf(reply) + PROMPT.encode())
                    conn.setblocking(False)
                except OSError:
                    alive = False
                    break
        conn.close()


def main():
    ap = argparse.ArgumentParser(description="fake QEMU 0.12 human monitor (tests only)")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--state")
    ap.add_argument("--tun", default="/dev/net/tun")
    ap.add_argument("--eject-delay", type=float, default=0.2)
    ap.add_argument("--pidfile")
    ap.add_argument("--max-slot", type=int, default=31,
                    help="highest free PCI slot (a machine with fewer free slots)")
    ap.add_argument("--log", help="append every command line received to this file")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    fake = Fake(args)
    try:
        os.unlink(args.socket)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(args.socket)
    sock.listen(4)
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    try:
        serve(fake, sock)
    finally:
        try:
            os.unlink(args.socket)
        except OSError:
            pass


if __name__ == "__main__":
    main()
