// tether/tether.hpp: everything in libtether's synchronous layer.
#pragma once

#include <tether/deadline.hpp>
#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/resolve.hpp>
#include <tether/socket.hpp>
#include <tether/tcp.hpp>
#include <tether/tls.hpp>
#include <tether/udp.hpp>
#include <tether/version.hpp>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

#pragma GCC visibility pop
