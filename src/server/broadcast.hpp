// src/server/broadcast.hpp (private): a connection's broadcast congestion state (broadcast.cpp).
// It lives in the connection's output state (allocated only once a send backs up: a receiver
// cannot be congested before), so an idle connection pays nothing for it.
#pragma once

#include <tether/connection.hpp>  // first: it declares Congestion (hidden) before it is defined
#include <tether/detail/io_op.hpp>

#include <cstdint>

namespace tether::detail {

struct __attribute__((visibility("hidden"))) Congestion : TimerNode {  // the stall timer
  Connection* conn = nullptr;
  std::uint64_t progress = 0;  // bytes written when the timer was armed
  bool congested = false;      // counted in the server's congested receivers
};

}  // namespace tether::detail
