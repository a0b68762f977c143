// tether/version.hpp: the library's version.
#pragma once

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

#define TETHER_VERSION_MAJOR 0
#define TETHER_VERSION_MINOR 1
#define TETHER_VERSION_PATCH 0
#define TETHER_VERSION_STRING "0.1.0"

namespace tether {
inline constexpr const char* version_string = TETHER_VERSION_STRING;
}  // namespace tether

#pragma GCC visibility pop
