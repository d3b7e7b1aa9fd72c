/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * virtdl.h: libvirt and libvirt-qemu, loaded with dlopen() the first time a
 * libvirt target is used (systemd's dlopen pattern for optional libraries).
 *
 * Why: linking libvirt pulls ~60 shared libraries into every `ptap` run;
 * the dynamic loader then costs ~10 ms per command, more than creating a
 * tap. Commands that never talk to libvirt (create, destroy, list,
 * recover of QMP/HMP guests, attach qmp:/hmp:) no longer pay it.
 *
 * Include this instead of the libvirt headers: every libvirt function
 * virt.c calls is redirected to a pointer filled by ptap_virtdl_load().
 */
#pragma once

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#define PTAP_VIRTDL_SYMBOLS(X)                     \
    X(virConnSetErrorFunc)                         \
    X(virConnectClose)                             \
    X(virConnectDomainEventDeregisterAny)          \
    X(virConnectDomainEventRegisterAny)            \
    X(virConnectGetURI)                            \
    X(virConnectOpen)                              \
    X(virDomainAttachDeviceFlags)                  \
    X(virDomainDetachDeviceAlias)                  \
    X(virDomainFree)                               \
    X(virDomainGetName)                            \
    X(virDomainGetUUIDString)                      \
    X(virDomainGetMetadata)                        \
    X(virDomainGetXMLDesc)                         \
    X(virDomainIsActive)                           \
    X(virDomainIsPersistent)                       \
    X(virDomainLookupByName)                       \
    X(virDomainLookupByUUIDString)                 \
    X(virDomainSetMetadata)                        \
    X(virEventAddTimeout)                          \
    X(virEventRegisterDefaultImpl)                 \
    X(virEventRemoveTimeout)                       \
    X(virEventRunDefaultImpl)                      \
    X(virGetLastError)                             \
    X(virGetLastErrorMessage)                      \
    X(virInitialize)                               \
    X(virNetworkFree)                              \
    X(virNetworkGetBridgeName)                     \
    X(virNetworkGetXMLDesc)                        \
    X(virNetworkIsActive)                          \
    X(virNetworkLookupByName)                      \
    X(virSetErrorFunc)

#define PTAP_VIRTDL_QEMU_SYMBOLS(X)                \
    X(virConnectDomainQemuMonitorEventDeregister)  \
    X(virConnectDomainQemuMonitorEventRegister)    \
    X(virDomainQemuMonitorCommand)

#define PTAP_VIRTDL_MEMBER(name) __typeof__(name) *name;
struct ptap_virtdl {
    PTAP_VIRTDL_SYMBOLS(PTAP_VIRTDL_MEMBER)
    PTAP_VIRTDL_QEMU_SYMBOLS(PTAP_VIRTDL_MEMBER)
};
#undef PTAP_VIRTDL_MEMBER
extern struct ptap_virtdl ptap_virtdl;

/**
 * ptap_virtdl_load: dlopen libvirt.so.0 and libvirt-qemu.so.0 (once per
 * process) and resolve every symbol above.
 * @errmsg: on failure, if not NULL, set to a static text naming what is
 *   missing (dlerror's words)
 * Returns 0, or -ENOPKG when libvirt cannot be loaded.
 */
int ptap_virtdl_load(const char **errmsg);

/* From here on, calls go through the loaded pointers (virtdl.c itself,
 * which fills them, defines PTAP_VIRTDL_NO_REDIRECT). */
#ifndef PTAP_VIRTDL_NO_REDIRECT
#define virConnSetErrorFunc (*ptap_virtdl.virConnSetErrorFunc)
#define virConnectClose (*ptap_virtdl.virConnectClose)
#define virConnectDomainEventDeregisterAny (*ptap_virtdl.virConnectDomainEventDeregisterAny)
#define virConnectDomainEventRegisterAny (*ptap_virtdl.virConnectDomainEventRegisterAny)
#define virConnectGetURI (*ptap_virtdl.virConnectGetURI)
#define virConnectOpen (*ptap_virtdl.virConnectOpen)
#define virDomainAttachDeviceFlags (*ptap_virtdl.virDomainAttachDeviceFlags)
#define virDomainDetachDeviceAlias (*ptap_virtdl.virDomainDetachDeviceAlias)
#define virDomainFree (*ptap_virtdl.virDomainFree)
#define virDomainGetName (*ptap_virtdl.virDomainGetName)
#define virDomainGetUUIDString (*ptap_virtdl.virDomainGetUUIDString)
#define virDomainGetMetadata (*ptap_virtdl.virDomainGetMetadata)
#define virDomainGetXMLDesc (*ptap_virtdl.virDomainGetXMLDesc)
#define virDomainIsActive (*ptap_virtdl.virDomainIsActive)
#define virDomainIsPersistent (*ptap_virtdl.virDomainIsPersistent)
#define virDomainLookupByName (*ptap_virtdl.virDomainLookupByName)
#define virDomainLookupByUUIDString (*ptap_virtdl.virDomainLookupByUUIDString)
#define virDomainSetMetadata (*ptap_virtdl.virDomainSetMetadata)
#define virEventAddTimeout (*ptap_virtdl.virEventAddTimeout)
#define virEventRegisterDefaultImpl (*ptap_virtdl.virEventRegisterDefaultImpl)
#define virEventRemoveTimeout (*ptap_virtdl.virEventRemoveTimeout)
#define virEventRunDefaultImpl (*ptap_virtdl.virEventRunDefaultImpl)
#define virGetLastError (*ptap_virtdl.virGetLastError)
#define virGetLastErrorMessage (*ptap_virtdl.virGetLastErrorMessage)
#define virInitialize (*ptap_virtdl.virInitialize)
#define virNetworkFree (*ptap_virtdl.virNetworkFree)
#define virNetworkGetBridgeName (*ptap_virtdl.virNetworkGetBridgeName)
#define virNetworkGetXMLDesc (*ptap_virtdl.virNetworkGetXMLDesc)
#define virNetworkIsActive (*ptap_virtdl.virNetworkIsActive)
#define virNetworkLookupByName (*ptap_virtdl.virNetworkLookupByName)
#define virSetErrorFunc (*ptap_virtdl.virSetErrorFunc)
#define virConnectDomainQemuMonitorEventDeregister (*ptap_virtdl.virConnectDomainQemuMonitorEventDeregister)
#define virConnectDomainQemuMonitorEventRegister (*ptap_virtdl.virConnectDomainQemuMonitorEventRegister)
#define virDomainQemuMonitorCommand (*ptap_virtdl.virDomainQemuMonitorCommand)
#endif
