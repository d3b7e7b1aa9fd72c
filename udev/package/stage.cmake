# Run by CPack (CPACK_PRE_BUILD_SCRIPTS) on the staged install tree of
# each package, before it is packed: what a distribution's own tooling
# (dh_compress, dh_installchangelogs, rpmbuild's brp scripts) would do.
#   every package: gzip -9n the manual pages;
#   Debian: /usr/share/doc/ptap gets copyright (machine-readable, pointing
#   at /usr/share/common-licenses) instead of the full COPYING text, and
#   changelog.gz; lintian gets the package's overrides (each with its
#   reason).
# Inputs: CPACK_TEMPORARY_INSTALL_DIRECTORY (the staged tree),
# CPACK_GENERATOR, CPACK_PACKAGING_INSTALL_PREFIX, CPACK_PTAP_* (set in
# package.cmake).

set(root "${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
set(usr "${root}${CPACK_PACKAGING_INSTALL_PREFIX}")
set(docdir "${usr}/${CPACK_PTAP_DOCDIR}")
if(NOT IS_DIRECTORY "${docdir}")
  message(FATAL_ERROR "stage.cmake: no ${docdir} in the staged tree (${root})")
endif()

find_program(gzip gzip REQUIRED)
file(GLOB_RECURSE pages "${usr}/${CPACK_PTAP_MANDIR}/man*/*.[0-9]")
foreach(page IN LISTS pages)
  # -n: no name or time stamp inside, so the package is reproducible.
  execute_process(COMMAND ${gzip} -9nf "${page}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "stage.cmake: gzip ${page} failed")
  endif()
endforeach()

if(CPACK_GENERATOR STREQUAL "DEB")
  file(REMOVE "${docdir}/COPYING")
  file(COPY "${CPACK_PTAP_WORK}/copyright" DESTINATION "${docdir}"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  file(COPY "${CPACK_PTAP_WORK}/changelog" DESTINATION "${docdir}"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  execute_process(COMMAND ${gzip} -9nf "${docdir}/changelog" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "stage.cmake: gzip changelog failed")
  endif()
  file(MAKE_DIRECTORY "${usr}/share/lintian/overrides")
  file(COPY_FILE "${CPACK_PTAP_PKGDIR}/lintian-overrides" "${usr}/share/lintian/overrides/ptap")
  file(CHMOD "${usr}/share/lintian/overrides/ptap" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()
