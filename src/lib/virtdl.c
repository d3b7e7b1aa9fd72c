/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#define PTAP_VIRTDL_NO_REDIRECT
#include "virtdl.h"

struct ptap_virtdl ptap_virtdl;

static int load_result = 1; /* 1: not tried yet */
static const char *load_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Resolve each symbol of one library into ptap_virtdl; the handle stays
 * open for the life of the process (libvirt keeps threads and state). */
#define RESOLVE(name)                                          \
    do {                                                       \
        void *sym_ = dlsym(h, #name);                          \
        if (!sym_) {                                           \
            load_error = dlerror();                            \
            return -ENOPKG;                                    \
        }                                                      \
        *(void **) &ptap_virtdl.name = sym_;                   \
    } while (0);

static int resolve_libvirt(void *h)
{
    PTAP_VIRTDL_SYMBOLS(RESOLVE)
    return 0;
}

static int resolve_qemu(void *h)
{
    PTAP_VIRTDL_QEMU_SYMBOLS(RESOLVE)
    return 0;
}

/* RTLD_LAZY: binding libvirt's ~60 libraries' symbols up front costs
 * 2-3 ms more, and every symbol ptap calls is resolved (and checked) here. */
static void load(void)
{
    void *lv, *lq;

    lv = dlopen("libvirt.so.0", RTLD_LAZY | RTLD_GLOBAL);
    if (!lv) {
        load_error = dlerror();
        load_result = -ENOPKG;
        return;
    }
    lq = dlopen("libvirt-qemu.so.0", RTLD_LAZY | RTLD_GLOBAL);
    if (!lq) {
        load_error = dlerror();
        load_result = -ENOPKG;
        return;
    }
    load_result = resolve_libvirt(lv);
    if (load_result == 0)
        load_result = resolve_qemu(lq);
}

int ptap_virtdl_load(const char **errmsg)
{
    pthread_once(&once, load);
    if (load_result < 0 && errmsg)
        *errmsg = load_error ? load_error : "cannot load libvirt";
    return load_result;
}
