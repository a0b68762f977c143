// src/backend/io_uring_none.cpp: stands in for io_uring.cpp in a build without liburing.
#include "backend/backend.hpp"

#include <string>

namespace tether::detail {

std::unique_ptr<Backend> make_io_uring_backend(ReadySink&, std::string& why) {
  why = "built without liburing";
  return nullptr;
}

}  // namespace tether::detail
