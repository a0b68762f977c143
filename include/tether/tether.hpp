// tether/tether.hpp: everything in libtether's synchronous layer.
#pragma once

#include <tether/deadline.hpp>
#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/resolve.hpp>
#include <tether/socket.hpp>
#include <tether/tcp.hpp>
#include <tether/udp.hpp>
#include <tether/version.hpp>
