/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proc.h: what ptap learns about a process (a guest's QEMU) from /proc:
 * whether it still runs, when it started (so a recycled pid is told
 * apart from the original), who it runs as, its command line, and which
 * process carries a libvirt domain's UUID.
 *
 * A leaf: it uses only util.h and validate.h, never the rest of libptap,
 * so the consumer, probe and libvirt code can all call it.
 *
 * Known limits: /proc of the current pid namespace only; a process of
 * another user whose /proc entry is hidden (hidepid=) reads as gone.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest /proc file ptap reads (a command line of a big QEMU is ~10 KiB). */
#define PTAP_PROC_FILE_MAX (1024 * 1024)

/**
 * ptap_proc_parse_start_time: field 22 (starttime, clock ticks since
 * boot) of the text @stat of a /proc/PID/stat file. The command name
 * (field 2) may hold spaces and ')': fields are counted after the last
 * ')'. Returns 0 and sets *@ret, or -EIO if @stat does not parse.
 */
int ptap_proc_parse_start_time(const char *stat, uint64_t *ret);

/**
 * ptap_proc_start_time: field 22 of /proc/@pid/stat.
 * Returns 0 and sets *@ret, -ESRCH if there is no such process (or
 * @pid <= 0), -EIO if the file does not parse, another negative errno.
 */
int ptap_proc_start_time(pid_t pid, uint64_t *ret);

/**
 * ptap_proc_parse_state: field 3 (the state letter: R, S, D, T, Z, X...)
 * of the text @stat of a /proc/PID/stat file. Returns 0 or -EIO.
 */
int ptap_proc_parse_state(const char *stat, char *ret);

/**
 * ptap_proc_alive: @pid exists, is not a zombie (killed, not yet reaped:
 * it runs nothing and holds no descriptor any more) and has start time
 * @start (0 = don't check).
 */
bool ptap_proc_alive(pid_t pid, uint64_t start);

/**
 * ptap_proc_parse_owner: the effective uid and gid in the text @status of
 * a /proc/PID/status file (its "Uid:" and "Gid:" lines).
 * Returns 0, or -EIO if they are missing or do not parse.
 */
int ptap_proc_parse_owner(const char *status, uid_t *uid, gid_t *gid);

/**
 * ptap_proc_owner: the effective uid and gid of @pid (/proc/PID/status).
 * Returns 0, -ENOENT (no such process), -EIO (unparsable), another
 * negative errno.
 */
int ptap_proc_owner(pid_t pid, uid_t *uid, gid_t *gid);

/**
 * ptap_proc_cmdline: the command line of @pid, its arguments separated
 * by NULs, into a malloc'ed buffer (*@ret, NUL-terminated; *@ret_len
 * bytes without that last NUL). Empty for a kernel thread or a zombie.
 * Returns 0 or a negative errno (-ENOENT: no such process).
 */
int ptap_proc_cmdline(pid_t pid, char **ret, size_t *ret_len);

/**
 * ptap_proc_has_uuid: true when "-uuid UUID" (UUID compared without
 * regard to case) is on the command line of @pid: how QEMU started by
 * libvirt names its domain.
 */
bool ptap_proc_has_uuid(pid_t pid, const char *uuid);

/**
 * ptap_proc_read_pid_file: the pid a pid file (libvirt's, a daemon's)
 * holds on its first line. Returns 0 or a negative errno (-EINVAL: not a
 * pid).
 */
int ptap_proc_read_pid_file(const char *path, pid_t *ret);

/**
 * ptap_proc_find_uuid: the first process in /proc with "-uuid @uuid" on
 * its command line. Returns 0 and sets *@ret, -ESRCH if none, or
 * opendir's negative errno.
 */
int ptap_proc_find_uuid(const char *uuid, pid_t *ret);

/* A process that holds a queue of a tap: a descriptor of /dev/net/tun
 * attached to it (what /proc/PID/fdinfo/FD says in its "iff:" line). */
typedef struct ptap_proc_holder {
    pid_t pid;
    uid_t uid;              /* its effective uid */
    char comm[32];          /* its command name (/proc/PID/comm) */
    char ifname[16];        /* the tap, as named in the holder's view */
    unsigned queues;        /* descriptors of this process attached to it */
    uint64_t netns_dev;     /* the holder's network namespace (stat of /proc/PID/ns/net), */
    uint64_t netns_ino;     /* where it names the tap; both 0 if unknown */
} ptap_proc_holder;

/**
 * ptap_proc_parse_fdinfo_iff: the tap name in the "iff:\tNAME" line of the
 * text @fdinfo of a /proc/PID/fdinfo/FD file (IFNAMSIZ bytes).
 * Returns 0, -ENOENT (no such line: a descriptor not attached to a tap),
 * -EINVAL (a name that is not one).
 */
int ptap_proc_parse_fdinfo_iff(const char *fdinfo, char ifname[16]);

/**
 * ptap_proc_tap_holders: every process that holds a queue of a tap, one
 * entry per (process, tap). Only processes whose descriptors this process
 * may read are seen: every one for root, a user's own otherwise. Taps of
 * other network namespaces are named as their holder sees them.
 * Returns 0 and a malloc'ed array (*@ret, *@n entries; free()), or a
 * negative errno (opendir of /proc).
 */
int ptap_proc_tap_holders(ptap_proc_holder **ret, size_t *n);

/* ---- which libvirt domain a QEMU runs (attribution of a holder) ---- */

#define PTAP_PROC_DOMAIN_MAX 256 /* a libvirt domain name, with its NUL */
#define PTAP_PROC_UUID_MAX 37    /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and NUL */
#define PTAP_PROC_URI_MAX 32     /* "qemu:///system", "qemu:///session" */

/* A QEMU that a libvirtd started, as /proc tells it. */
typedef struct ptap_proc_domain {
    char name[PTAP_PROC_DOMAIN_MAX]; /* from "-name guest=NAME,..." */
    char uuid[PTAP_PROC_UUID_MAX];   /* from "-uuid UUID", "" if none */
    char uri[PTAP_PROC_URI_MAX];     /* the connection of the libvirtd that started it */
} ptap_proc_domain;

/**
 * ptap_proc_parse_qemu_name: the guest name and UUID on a QEMU command
 * line @cmd (@len bytes, arguments separated by NULs): "-name
 * guest=NAME,..." (or the older "-name NAME"; ",," is an escaped ',') and
 * "-uuid UUID". A name that could not be a libvirt domain's (empty, too
 * long, with '/', "." or "..") is none. Pure.
 * Returns 0 (@uuid "" when there is no -uuid), -ENOENT (no usable -name).
 */
int ptap_proc_parse_qemu_name(const char *cmd, size_t len, char name[PTAP_PROC_DOMAIN_MAX],
                              char uuid[PTAP_PROC_UUID_MAX]);

/**
 * ptap_proc_pidfile_is: does the pid file @path hold @pid (its first
 * line, a decimal number)? What libvirtd writes for each QEMU it starts.
 */
bool ptap_proc_pidfile_is(const char *path, pid_t pid);

/**
 * ptap_proc_libvirt_domain: is process @pid (running as @uid) the QEMU of
 * a libvirt domain, and of which libvirtd? Its command line gives the name
 * and UUID; the libvirtd is the one whose pid file for that name holds
 * @pid: /run/libvirt/qemu/NAME.pid (qemu:///system), else
 * RUNDIR/libvirt/qemu/run/NAME.pid of the QEMU's user (qemu:///session),
 * RUNDIR being /run/user/UID or the XDG_RUNTIME_DIR of a libvirtd of that
 * user (read from its environment, where this process may). Never asks
 * libvirt. Returns 0 and fills @ret, -ENOENT (not a libvirt QEMU, or one
 * whose libvirtd cannot be told), another negative errno.
 */
int ptap_proc_libvirt_domain(pid_t pid, uid_t uid, ptap_proc_domain *ret);

/**
 * ptap_proc_holder_find: the first holder of tap @ifname in @v (@n
 * entries), or NULL.
 */
const ptap_proc_holder *ptap_proc_holder_find(const ptap_proc_holder *v, size_t n,
                                              const char *ifname);
