# Where the system integration files go, for one install prefix: used at
# configure time (CMakeLists.txt: the paths the manual pages name) and at
# install time (install-triggers.cmake: `cmake --install --prefix P` may
# differ from the configure-time prefix).
#
# ptap_install_dirs(PREFIX) reads (GNUInstallDirs values, relative or
# absolute): PTAP_BINDIR, PTAP_LIBEXECDIR, PTAP_SYSCONFDIR, PTAP_DATADIR;
# pkg-config answers (may be empty): PTAP_PC_UDEVDIR, PTAP_PC_UNITDIR,
# PTAP_PC_TMPFILESDIR, PTAP_PC_COMPLETIONSDIR; overrides (may be empty):
# PTAP_UDEV_RULES_DIR, PTAP_SYSTEMD_UNIT_DIR, PTAP_TMPFILES_DIR,
# PTAP_BASH_COMPLETION_DIR, PTAP_LIBVIRT_HOOK_DIR.
# It sets, in the caller's scope: PTAP_INST_BINDIR, PTAP_INST_LIBEXECDIR,
# PTAP_INST_SYSCONFDIR, PTAP_INST_RULESDIR, PTAP_INST_UNITDIR,
# PTAP_INST_TMPFILESDIR, PTAP_INST_COMPLETIONSDIR, PTAP_INST_HOOKDIR.
#
# The pkg-config answers are absolute (/lib/udev, /lib/systemd/system):
# they are used when the prefix is /usr, the distribution's own; under any
# other prefix the files go below the prefix.

function(ptap_install_dirs prefix)
  set(system_prefix FALSE)
  if(prefix STREQUAL "/usr" OR prefix STREQUAL "/")
    set(system_prefix TRUE)
  endif()

  # full(OUT REL): REL below the prefix, unless it is absolute.
  macro(full out rel)
    if(IS_ABSOLUTE "${rel}")
      set(${out} "${rel}")
    elseif(prefix STREQUAL "/")
      set(${out} "/${rel}")
    else()
      set(${out} "${prefix}/${rel}")
    endif()
  endmacro()
  # pick(OUT OVERRIDE PKGCONFIG SYSTEM-DEFAULT REL-BELOW-PREFIX)
  # (Macro arguments are text, not variables: compare them as strings.)
  macro(pick out override pc sysdefault rel)
    if(NOT "${override}" STREQUAL "")
      set(${out} "${override}")
    elseif(system_prefix AND NOT "${pc}" STREQUAL "")
      set(${out} "${pc}")
    elseif(system_prefix)
      set(${out} "${sysdefault}")
    else()
      full(${out} "${rel}")
    endif()
  endmacro()

  full(bindir "${PTAP_BINDIR}")
  full(libexecdir "${PTAP_LIBEXECDIR}")
  full(datadir "${PTAP_DATADIR}")
  # GNUInstallDirs' rule: /usr's configuration lives in /etc.
  if(system_prefix AND PTAP_SYSCONFDIR STREQUAL "etc")
    set(sysconfdir "/etc")
  else()
    full(sysconfdir "${PTAP_SYSCONFDIR}")
  endif()

  set(pc_rules "")
  if(PTAP_PC_UDEVDIR)
    set(pc_rules "${PTAP_PC_UDEVDIR}/rules.d")
  endif()
  pick(rulesdir "${PTAP_UDEV_RULES_DIR}" "${pc_rules}" /usr/lib/udev/rules.d lib/udev/rules.d)
  pick(unitdir "${PTAP_SYSTEMD_UNIT_DIR}" "${PTAP_PC_UNITDIR}" /usr/lib/systemd/system lib/systemd/system)
  pick(tmpfilesdir "${PTAP_TMPFILES_DIR}" "${PTAP_PC_TMPFILESDIR}" /usr/lib/tmpfiles.d lib/tmpfiles.d)
  pick(completionsdir "${PTAP_BASH_COMPLETION_DIR}" "${PTAP_PC_COMPLETIONSDIR}"
       "${datadir}/bash-completion/completions" "${datadir}/bash-completion/completions")
  if(PTAP_LIBVIRT_HOOK_DIR)
    set(hookdir "${PTAP_LIBVIRT_HOOK_DIR}")
  else()
    set(hookdir "${sysconfdir}/libvirt/hooks/qemu.d")
  endif()

  foreach(v bindir libexecdir sysconfdir rulesdir unitdir tmpfilesdir completionsdir hookdir)
    string(TOUPPER ${v} V)
    set(PTAP_INST_${V} "${${v}}" PARENT_SCOPE)
  endforeach()
endfunction()
