# libtether.so beside libtether.a, linked from the static library's objects (compiled once, PIC,
# hidden visibility): it exports only the public API. SONAME libtether.so.<major>; until 1.0 the
# minor version is the ABI (libtether.so.0.1), as SameMinorVersion says for the CMake package.
if(NOT TETHER_BUILD_SHARED)
  return()
endif()
find_package(Threads REQUIRED)
add_library(tether_shared SHARED $<TARGET_OBJECTS:tether>)
add_library(tether::tether_shared ALIAS tether_shared)
set_target_properties(tether_shared PROPERTIES
  OUTPUT_NAME tether
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
  EXPORT_NAME tether_shared)
# Whatever the static library links (threads, liburing, and what others add in src/) the shared
# one links too, read from the target so the two never drift apart.
target_link_libraries(tether_shared PUBLIC Threads::Threads PRIVATE $<TARGET_PROPERTY:tether,LINK_LIBRARIES>)
target_include_directories(tether_shared PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(tether_shared PUBLIC cxx_std_23)
target_link_options(tether_shared PRIVATE -Wl,--no-undefined -Wl,--as-needed)
