# make docs: the API reference from include/tether/ with Doxygen (Debian's doxygen package:
# scripts/install-deps.sh --docs). Warnings are errors: the reference must build clean.
find_program(TETHER_DOXYGEN doxygen)
if(TETHER_DOXYGEN)
  configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${PROJECT_BINARY_DIR}/Doxyfile @ONLY)
  add_custom_target(docs
    COMMAND ${TETHER_DOXYGEN} ${PROJECT_BINARY_DIR}/Doxyfile
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    COMMENT "API reference: ${PROJECT_BINARY_DIR}/docs/html/index.html"
    VERBATIM)
else()
  add_custom_target(docs
    COMMAND ${CMAKE_COMMAND} -E echo "doxygen is not installed: scripts/install-deps.sh --docs"
    COMMAND ${CMAKE_COMMAND} -E false)
endif()
