# make install: the static and the shared library, headers, the CMake package (tether::tether,
# tether::tether_shared), tether.pc for pkg-config, and (with the tool) its man pages and completions.
include(CMakePackageConfigHelpers)

set(_tether_install_targets tether)
if(TARGET tether_shared)
  list(APPEND _tether_install_targets tether_shared)
endif()
install(TARGETS ${_tether_install_targets} EXPORT tetherTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT Unspecified
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/tether DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT tetherTargets NAMESPACE tether::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tether)
configure_package_config_file(cmake/tetherConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tetherConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tether)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tetherConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tetherConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/tetherConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tether)

# pkg-config: `pkg-config --cflags --libs tether` links the shared library; with --static the
# private dependencies of libtether.a come too.
set(TETHER_PC_LIBS_PRIVATE "-pthread -lssl -lcrypto")
if(TETHER_LIBURING_LIBRARY)
  string(APPEND TETHER_PC_LIBS_PRIVATE " -luring")
endif()
# Relocatable: the prefix is found from the .pc file's own place (make install PREFIX=..., a .deb).
file(RELATIVE_PATH TETHER_PC_UP "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
string(REGEX REPLACE "/$" "" TETHER_PC_UP "${TETHER_PC_UP}")
configure_file(cmake/tether.pc.in ${CMAKE_CURRENT_BINARY_DIR}/tether.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tether.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
