include(CMakePackageConfigHelpers)

install(TARGETS tether EXPORT tetherTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
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
