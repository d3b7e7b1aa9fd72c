# Run at install time (install(CODE) in CMakeLists.txt): the triggers name
# installed paths, so they are configured here, with the prefix of *this*
# install (`cmake --install --prefix P` differs from the configure-time
# prefix), then installed (file(INSTALL) honours DESTDIR).
#
# Inputs: PTAP_UDEV_SRC, PTAP_UDEV_WORK, PTAP_BINDIR, PTAP_LIBEXECDIR,
# PTAP_SYSCONFDIR (GNUInstallDirs values, relative or absolute),
# PTAP_PC_UDEVDIR, PTAP_PC_UNITDIR (pkg-config answers, may be empty),
# PTAP_UDEV_RULES_DIR, PTAP_SYSTEMD_UNIT_DIR (overrides, may be empty).

set(prefix "${CMAKE_INSTALL_PREFIX}")
set(system_prefix FALSE)
if(prefix STREQUAL "/usr" OR prefix STREQUAL "/")
  set(system_prefix TRUE)
endif()

function(ptap_full out rel)
  if(IS_ABSOLUTE "${rel}")
    set(${out} "${rel}" PARENT_SCOPE)
  elseif(prefix STREQUAL "/")
    set(${out} "/${rel}" PARENT_SCOPE)
  else()
    set(${out} "${prefix}/${rel}" PARENT_SCOPE)
  endif()
endfunction()

ptap_full(bindir "${PTAP_BINDIR}")
ptap_full(libexecdir "${PTAP_LIBEXECDIR}")
# GNUInstallDirs' rule: /usr's configuration lives in /etc.
if(system_prefix AND PTAP_SYSCONFDIR STREQUAL "etc")
  set(sysconfdir "/etc")
else()
  ptap_full(sysconfdir "${PTAP_SYSCONFDIR}")
endif()

if(PTAP_UDEV_RULES_DIR)
  set(rulesdir "${PTAP_UDEV_RULES_DIR}")
elseif(system_prefix AND PTAP_PC_UDEVDIR)
  set(rulesdir "${PTAP_PC_UDEVDIR}/rules.d")
elseif(system_prefix)
  set(rulesdir "/usr/lib/udev/rules.d")
else()
  ptap_full(rulesdir "lib/udev/rules.d")
endif()
if(PTAP_SYSTEMD_UNIT_DIR)
  set(unitdir "${PTAP_SYSTEMD_UNIT_DIR}")
elseif(system_prefix AND PTAP_PC_UNITDIR)
  set(unitdir "${PTAP_PC_UNITDIR}")
elseif(system_prefix)
  set(unitdir "/usr/lib/systemd/system")
else()
  ptap_full(unitdir "lib/systemd/system")
endif()
if(NOT rulesdir MATCHES "^(/usr)?/lib/udev/rules.d$|^/etc/udev/rules.d$")
  message(STATUS "Note: udev reads rules only from /etc/udev/rules.d, /run/udev/rules.d and "
                 "/usr/lib/udev/rules.d; ${rulesdir}/90-ptap.rules needs a link from one of them "
                 "(or configure with -DPTAP_UDEV_RULES_DIR=...)")
endif()

set(PTAP_BIN "${bindir}/ptap")
set(PTAP_TRIGGER "${libexecdir}/ptap-trigger")
foreach(f 90-ptap.rules ptap-trigger libvirt-hook-ptap ptap-recover.service ptap-watch.service)
  configure_file("${PTAP_UDEV_SRC}/${f}.in" "${PTAP_UDEV_WORK}/${f}" @ONLY)
endforeach()

set(rw_r_r OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
set(rwx_rx_rx OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
file(INSTALL "${PTAP_UDEV_WORK}/90-ptap.rules" DESTINATION "${rulesdir}" PERMISSIONS ${rw_r_r})
file(INSTALL "${PTAP_UDEV_WORK}/ptap-trigger" DESTINATION "${libexecdir}" PERMISSIONS ${rwx_rx_rx})
file(INSTALL "${PTAP_UDEV_WORK}/libvirt-hook-ptap" DESTINATION "${sysconfdir}/libvirt/hooks/qemu.d"
     RENAME ptap PERMISSIONS ${rwx_rx_rx})
file(INSTALL "${PTAP_UDEV_WORK}/ptap-recover.service" "${PTAP_UDEV_WORK}/ptap-watch.service"
     DESTINATION "${unitdir}" PERMISSIONS ${rw_r_r})
file(INSTALL "${PTAP_UDEV_SRC}/helper.conf.example" DESTINATION "${sysconfdir}/ptap"
     PERMISSIONS ${rw_r_r})
