# Run at install time (install(CODE) in CMakeLists.txt): the triggers name
# installed paths, so they are configured here, with the prefix of *this*
# install (`cmake --install --prefix P` differs from the configure-time
# prefix), then installed (file(INSTALL) honours DESTDIR).
#
# Inputs: PTAP_UDEV_SRC, PTAP_UDEV_WORK, PTAP_SRC_DIR (src/, for the bash
# completion), PTAP_INSTALL_POLICY, PTAP_HELPER_CONF, and what
# install-dirs.cmake reads (directories, pkg-config answers, overrides).

include("${PTAP_UDEV_SRC}/install-dirs.cmake")
ptap_install_dirs("${CMAKE_INSTALL_PREFIX}")
set(bindir "${PTAP_INST_BINDIR}")
set(libexecdir "${PTAP_INST_LIBEXECDIR}")
set(sysconfdir "${PTAP_INST_SYSCONFDIR}")
set(rulesdir "${PTAP_INST_RULESDIR}")
set(unitdir "${PTAP_INST_UNITDIR}")
set(tmpfilesdir "${PTAP_INST_TMPFILESDIR}")
set(completionsdir "${PTAP_INST_COMPLETIONSDIR}")
set(hookdir "${PTAP_INST_HOOKDIR}")
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
file(INSTALL "${PTAP_UDEV_WORK}/libvirt-hook-ptap" DESTINATION "${hookdir}"
     RENAME ptap PERMISSIONS ${rwx_rx_rx})
file(INSTALL "${PTAP_UDEV_WORK}/ptap-recover.service" "${PTAP_UDEV_WORK}/ptap-watch.service"
     DESTINATION "${unitdir}" PERMISSIONS ${rw_r_r})
file(INSTALL "${PTAP_UDEV_SRC}/helper.conf.example" DESTINATION "${sysconfdir}/ptap"
     PERMISSIONS ${rw_r_r})
# /run/ptap at boot, with the mode ptap itself gives it.
file(INSTALL "${PTAP_UDEV_SRC}/ptap.tmpfiles" DESTINATION "${tmpfilesdir}" RENAME ptap.conf
     PERMISSIONS ${rw_r_r})
file(INSTALL "${PTAP_SRC_DIR}/ptap.bash-completion" DESTINATION "${completionsdir}" RENAME ptap
     PERMISSIONS ${rw_r_r})
# The policy the helper reads: only when asked (packages do), it denies
# everything until the administrator writes rules. Its path is fixed at
# build time (PTAP_HELPER_CONF), whatever the install prefix.
if(PTAP_INSTALL_POLICY)
  get_filename_component(policydir "${PTAP_HELPER_CONF}" DIRECTORY)
  get_filename_component(policyname "${PTAP_HELPER_CONF}" NAME)
  configure_file("${PTAP_UDEV_SRC}/helper.conf.in" "${PTAP_UDEV_WORK}/helper.conf" @ONLY)
  file(INSTALL "${PTAP_UDEV_WORK}/helper.conf" DESTINATION "${policydir}" RENAME "${policyname}"
       PERMISSIONS ${rw_r_r})
endif()
