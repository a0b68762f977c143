#include "testing.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <thread>

extern char** environ;

namespace tether::testing {

int open_fd_count() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n - 1;  // the directory_iterator's own fd
}

TempPath::TempPath(std::string_view stem) {
  static std::atomic<int> counter{0};
  path_ = (std::filesystem::temp_directory_path() /
           (std::string("tether-") + std::string(stem) + "-" + std::to_string(getpid()) + "-" +
            std::to_string(counter++)))
              .string();
  std::filesystem::remove(path_);
}

TempPath::~TempPath() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Child Child::spawn(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd, int stderr_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  auto redirect = [&](int fd, int target) {
    if (fd >= 0) {
      posix_spawn_file_actions_adddup2(&actions, fd, target);
    } else {
      posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0);
    }
  };
  redirect(stdin_fd, 0);
  redirect(stdout_fd, 1);
  redirect(stderr_fd, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  Child c;
  int rc = posix_spawnp(&c.pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(rc);
    c.pid_ = -1;
  }
  return c;
}

Child::~Child() { kill(); }

Child::Child(Child&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    kill();
    pid_ = std::exchange(other.pid_, -1);
  }
  return *this;
}

int Child::wait(std::chrono::milliseconds timeout) {
  if (pid_ < 0) return -1;
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (std::chrono::steady_clock::now() >= until) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Child::kill() noexcept {
  if (pid_ < 0) return;
  ::kill(pid_, SIGTERM);
  if (wait(std::chrono::milliseconds(2000)) == -1 && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

bool have_program(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string p(path);
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

std::uint16_t free_port() {
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  return l ? l->local_endpoint()->port() : 0;
}

bool wait_listening(std::uint16_t port) {
  for (int i = 0; i < 500; ++i) {
    if (TcpStream::connect(Endpoint::ipv4_loopback(port), std::chrono::milliseconds(100))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace tether::testing

namespace tether::testing {

bool is_cloexec(int fd) {
  int flags = ::fcntl(fd, F_GETFD);
  return flags >= 0 && (flags & FD_CLOEXEC) != 0;
}

bool is_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

std::vector<std::byte> pattern_bytes(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> out(n);
  std::uint32_t x = seed * 2654435761u + 0x9e3779b9u;
  for (auto& b : out) {
    x ^= x << 13;  // xorshift32
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::byte>(x >> 24);
  }
  return out;
}

StreamPair connected_pair(const tether::Endpoint& where) {
  StreamPair pair;
  auto listener = tether::TcpListener::bind(where);
  if (!listener) {
    ADD_FAILURE() << "bind " << where.to_string() << ": " << listener.error().message();
    return pair;
  }
  auto local = listener->local_endpoint();
  if (!local) {
    ADD_FAILURE() << "local_endpoint: " << local.error().message();
    return pair;
  }
  pair.listener = *local;
  auto client = tether::TcpStream::connect(*local, std::chrono::seconds(5));
  if (!client) {
    ADD_FAILURE() << "connect " << local->to_string() << ": " << client.error().message();
    return pair;
  }
  auto accepted = listener->accept(std::chrono::seconds(5));
  if (!accepted) {
    ADD_FAILURE() << "accept: " << accepted.error().message();
    return pair;
  }
  pair.client = std::move(*client);
  pair.server = std::move(accepted->stream);
  return pair;
}

std::vector<tether::TcpStream> fill_accept_queue(const tether::Endpoint& listener,
                                                 int max_connections) {
  std::vector<tether::TcpStream> fillers;
  for (int i = 0; i < max_connections; ++i) {
    auto c = tether::TcpStream::connect(listener, std::chrono::milliseconds(200));
    if (c) {
      fillers.push_back(std::move(*c));
      continue;
    }
    if (c.error() == std::errc::timed_out) return fillers;  // the kernel now drops our SYNs
    ADD_FAILURE() << "filling the accept queue of " << listener.to_string() << ": "
                  << c.error().message();
    return fillers;
  }
  ADD_FAILURE() << "the accept queue of " << listener.to_string() << " never filled after "
                << max_connections << " connections";
  return fillers;
}

}  // namespace tether::testing
