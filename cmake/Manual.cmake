# Man pages and shell completions, written by the built tool itself (`tether manual`, generated from
# the same CLI11 definitions as --help) into build/manual/, and installed with the tool.
set(TETHER_MANUAL_DIR ${PROJECT_BINARY_DIR}/manual)
add_custom_command(
  OUTPUT ${TETHER_MANUAL_DIR}/stamp
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${TETHER_MANUAL_DIR}/man1
  COMMAND ${CMAKE_COMMAND} -E make_directory ${TETHER_MANUAL_DIR}/man1
  COMMAND $<TARGET_FILE:tether_cli> manual --man ${TETHER_MANUAL_DIR}/man1
          --bash ${TETHER_MANUAL_DIR}/tether.bash --zsh ${TETHER_MANUAL_DIR}/_tether
  COMMAND ${CMAKE_COMMAND} -E touch ${TETHER_MANUAL_DIR}/stamp
  DEPENDS tether_cli
  COMMENT "Writing man pages and completions from tether's --help definitions")
add_custom_target(tether_manual ALL DEPENDS ${TETHER_MANUAL_DIR}/stamp)
install(DIRECTORY ${TETHER_MANUAL_DIR}/man1 DESTINATION ${CMAKE_INSTALL_MANDIR})
install(FILES ${TETHER_MANUAL_DIR}/tether.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME tether)
install(FILES ${TETHER_MANUAL_DIR}/_tether DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
