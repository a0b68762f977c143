# Script mode: install, configure the consumer, build it, run it.
include(${CMAKE_CURRENT_LIST_DIR}/install_prefix.cmake)
# make install: the tool, headers, and the tool's man pages and completions (bash, zsh).
foreach(f include/tether/tether.hpp bin/tether share/man/man1/tether.1 share/man/man1/tether-ss.1
          share/man/man1/tether-trace.1 share/bash-completion/completions/tether share/zsh/vendor-completions/_tether)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "installed tree lacks ${f}")
  endif()
endforeach()
file(GLOB_RECURSE pc "${prefix}/*/pkgconfig/tether.pc")
if(NOT pc)
  message(FATAL_ERROR "installed tree lacks pkgconfig/tether.pc")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S "${CONSUMER_SRC}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
                        "-DCMAKE_PREFIX_PATH=${prefix}" "-DTETHER_TARGET=${LINK_TARGET}"
                        "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"         # a sanitizer build needs its runtime
                        "-DCMAKE_EXE_LINKER_FLAGS=${LINK_FLAGS}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the consumer failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${WORK_DIR}/build" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the consumer failed: ${rc}")
endif()
execute_process(COMMAND "${WORK_DIR}/build/consumer" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "echoed: ping")
  message(FATAL_ERROR "consumer failed (${rc}): ${out}")
endif()
# The shared consumer must need libtether.so.<soname> at run time; the static one must not.
execute_process(COMMAND readelf -d "${WORK_DIR}/build/consumer" OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf failed: ${rc}")
endif()
if(LINK_TARGET MATCHES "shared")
  if(NOT dynamic MATCHES "NEEDED[^\n]*\\[libtether\\.so\\.[0-9]")
    message(FATAL_ERROR "the shared consumer does not load libtether.so:\n${dynamic}")
  endif()
elseif(dynamic MATCHES "libtether")
  message(FATAL_ERROR "the static consumer loads libtether:\n${dynamic}")
endif()
message(STATUS "consumer (${LINK_TARGET}): ${out}")
