# ptap's packages, built with CPack from an ordinary build tree
# (`./dev package` does it all): a Debian package ptap_VERSION_ARCH.deb
# and, where rpmbuild is installed, an RPM ptap-VERSION-1.ARCH.rpm.
#
# The package holds what `cmake --install` installs (CPACK_SET_DESTDIR:
# the very install rules, into a staging DESTDIR, with the configure-time
# prefix, which must be /usr), plus what only a package ships:
#   - PTAP_HELPER_CONF, a policy that denies everything (PTAP_INSTALL_POLICY,
#     which ./dev package turns on), marked a conffile / %config;
#   - maintainer scripts (postinst, prerm, postrm; rpm-post, rpm-preun,
#     rpm-postun): the helper gets cap_net_admin (setuid root where file
#     capabilities are unavailable), /run/ptap is made, the units are
#     stopped and disabled on removal;
#   - gzipped manual pages, and for Debian copyright, changelog.gz and
#     lintian's overrides (stage.cmake, run by CPack on the staged tree).
# Files: this one (included by the top CMakeLists.txt), stage.cmake, the
# script templates *.in, copyright.in, changelog.in, rpm-changelog.in,
# lintian-overrides.

set(PTAP_PACKAGE_MAINTAINER "ptap maintainers <maintainers@users.noreply.r-seed-aa2f5a14.example>"
    CACHE STRING "Maintainer of the packages (Debian Maintainer, RPM Packager)")
set(PTAP_PACKAGE_COMMIT "unknown" CACHE STRING "Source commit the package is built from (its changelog names it)")

set(pkgdir ${CMAKE_CURRENT_LIST_DIR})
set(work ${PROJECT_BINARY_DIR}/package)
ptap_require_files(${pkgdir}/stage.cmake ${pkgdir}/copyright.in ${pkgdir}/changelog.in
                   ${pkgdir}/rpm-changelog.in ${pkgdir}/lintian-overrides)

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  # Not an error: this build tree may be a developer's. Its packages would
  # put the files below that prefix and their programs would look there.
  message(STATUS "Packages: the install prefix is ${CMAKE_INSTALL_PREFIX}, not /usr; "
                 "configure with -DCMAKE_INSTALL_PREFIX=/usr to build packages (./dev package does)")
endif()

# The date of the package: SOURCE_DATE_EPOCH when set (reproducible).
set(PTAP_PACKAGE_VERSION ${PROJECT_VERSION})
string(TIMESTAMP PTAP_PACKAGE_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
string(TIMESTAMP PTAP_RPM_DATE "%a %b %d %Y" UTC)
set(PTAP_MAN_DOCDIR "${CMAKE_INSTALL_FULL_DOCDIR}")
foreach(f postinst prerm postrm rpm-post rpm-preun rpm-postun)
  configure_file(${pkgdir}/${f}.in ${work}/${f} @ONLY FILE_PERMISSIONS
                 OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
configure_file(${pkgdir}/copyright.in ${work}/copyright @ONLY)
configure_file(${pkgdir}/changelog.in ${work}/changelog @ONLY)
configure_file(${pkgdir}/rpm-changelog.in ${work}/rpm-changelog @ONLY)

# Every file below /etc is a conffile (Debian policy 10.7.2): kept on
# upgrade when the administrator changed it, removed on purge.
set(conffiles "${PTAP_INST_SYSCONFDIR}/ptap/helper.conf.example" "${PTAP_INST_HOOKDIR}/ptap")
if(PTAP_INSTALL_POLICY)
  list(PREPEND conffiles "${PTAP_HELPER_CONF}")
endif()
set(deb_conffiles "")
set(rpm_config "")
foreach(f IN LISTS conffiles)
  if(f MATCHES "^/etc/")
    string(APPEND deb_conffiles "${f}\n")
  endif()
  list(APPEND rpm_config "%config(noreplace) ${f}")
endforeach()
file(WRITE ${work}/conffiles "${deb_conffiles}")

set(CPACK_PACKAGE_NAME ptap)
set(CPACK_PACKAGE_VENDOR "The ptap authors")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${PTAP_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "hot-plug NICs into running QEMU/KVM guests through persistent taps")
set(CPACK_PACKAGE_DESCRIPTION "ptap creates persistent tap devices owned by the user QEMU runs as, through
a small privileged helper bound by an administrator's policy, records each
in a crash-safe journal before it acts, and hot-plugs them into running
guests by name over QMP, the human monitor (old QEMU included) or libvirt.
udev rules, a libvirt hook, a watcher and a boot-time recovery make sure
no tap is orphaned and no record goes stale.")
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_PRE_BUILD_SCRIPTS ${pkgdir}/stage.cmake)
set(CPACK_PTAP_WORK ${work})
set(CPACK_PTAP_DOCDIR "${CMAKE_INSTALL_DOCDIR}")
set(CPACK_PTAP_MANDIR "${CMAKE_INSTALL_MANDIR}")
set(CPACK_PTAP_PKGDIR "${pkgdir}")
set(CPACK_OUTPUT_FILE_PREFIX "${PROJECT_BINARY_DIR}/packages")

# Debian.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # ptap_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# setcap for the maintainer script (as iputils-ping: setuid only where the
# file system cannot hold a capability); the libraries come from
# dpkg-shlibdeps. libvirt is loaded with dlopen only when a command names
# a libvirt domain.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcap2-bin")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libvirt0")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libvirt-daemon-system, qemu-system")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${work}/postinst ${work}/prerm ${work}/postrm ${work}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# RPM (Fedora and the like).
set(CPACK_RPM_FILE_NAME RPM-DEFAULT) # ptap-VERSION-RELEASE.ARCH.rpm
set(CPACK_RPM_PACKAGE_RELEASE 1)
set(CPACK_RPM_PACKAGE_RELOCATABLE OFF) # the paths are compiled in
set(CPACK_RPM_PACKAGE_LICENSE "LGPL-2.1-or-later")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Base")
set(CPACK_RPM_PACKAGE_REQUIRES_POST "libcap")
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${work}/rpm-post)
set(CPACK_RPM_PRE_UNINSTALL_SCRIPT_FILE ${work}/rpm-preun)
set(CPACK_RPM_POST_UNINSTALL_SCRIPT_FILE ${work}/rpm-postun)
set(CPACK_RPM_USER_FILELIST ${rpm_config} "%license ${CMAKE_INSTALL_FULL_DOCDIR}/COPYING")
set(CPACK_RPM_CHANGELOG_FILE ${work}/rpm-changelog)
# Directories other packages own (filesystem, systemd, udev, libvirt,
# bash-completion, man-db): the RPM owns only ptap's own.
set(foreign_dirs)
foreach(d "${PTAP_INST_RULESDIR}" "${PTAP_INST_UNITDIR}" "${PTAP_INST_TMPFILESDIR}"
          "${PTAP_INST_COMPLETIONSDIR}" "${PTAP_INST_HOOKDIR}" "${PTAP_INST_LIBEXECDIR}"
          "${CMAKE_INSTALL_FULL_DATADIR}/selinux/packages" "${CMAKE_INSTALL_FULL_MANDIR}/man1"
          "${CMAKE_INSTALL_FULL_MANDIR}/man5" "${CMAKE_INSTALL_FULL_MANDIR}/man8")
  while(NOT d STREQUAL "/" AND NOT d STREQUAL "")
    list(APPEND foreign_dirs "${d}")
    get_filename_component(d "${d}" DIRECTORY)
  endwhile()
endforeach()
list(REMOVE_DUPLICATES foreign_dirs)
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION ${foreign_dirs})

set(CPACK_GENERATOR DEB)
find_program(PTAP_RPMBUILD rpmbuild)
if(PTAP_RPMBUILD)
  list(APPEND CPACK_GENERATOR RPM)
endif()
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
