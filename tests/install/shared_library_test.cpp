// libtether.so exports the public API and nothing else: every class that src/ declares privately
// (backends, timer heap, loop internals, server internals) stays hidden, the public names are
// there, and the SONAME carries the ABI version. Also: every public header marks its declarations
// exported, so a header added without the pragma fails here rather than in a user's link.
#include "../cli/cli_support.hpp"

#include <tether/version.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

namespace {

using namespace std::chrono_literals;
using namespace tether::testing::cli;

std::string run(const std::vector<std::string>& argv) {
  Process p = Process::start(argv);
  EXPECT_EQ(p.wait(30s), 0) << argv[0] << ": " << p.err();
  return p.out();
}

/// Names of the classes and structs declared in src/**/*.hpp: the private ones.
std::vector<std::string> private_types() {
  std::vector<std::string> names;
  const std::regex decl(R"(^(?:class|struct) ([A-Z][A-Za-z0-9_]*)\b[^;]*$)");
  for (const auto& e : std::filesystem::recursive_directory_iterator(std::string(TETHER_SOURCE_DIR) + "/src")) {
    if (e.path().extension() != ".hpp") continue;
    for (const auto& line : lines_of(read_file(e.path().string()))) {
      std::smatch m;
      if (std::regex_search(line, m, decl)) names.push_back(m[1]);
    }
  }
  return names;
}

TEST(SharedLibrary, exports_the_public_api_and_hides_private_classes) {
  const std::string symbols = run({"nm", "-D", "--defined-only", "-C", TETHER_SHARED_LIBRARY});
  ASSERT_FALSE(symbols.empty());
  for (const std::string pub : {"tether::TcpStream::connect", "tether::TcpListener::bind", "tether::Endpoint::parse",
                                "tether::AsyncTcpStream::", "tether::list_sockets", "tether::parse_tcp_packet",
                                "tether::Server::"}) {
    EXPECT_NE(symbols.find(pub), std::string::npos) << pub << " is not exported";
  }
  const auto hidden = private_types();
  ASSERT_GE(hidden.size(), 5U) << "src/ should declare private classes";
  for (const auto& name : hidden) {
    EXPECT_EQ(symbols.find("::" + name + "::"), std::string::npos) << "private " << name << " is exported";
  }
  EXPECT_EQ(symbols.find("tether::detail::tcp_info_from_kernel"), std::string::npos);
}

TEST(SharedLibrary, soname_carries_the_abi_version) {
  const std::string dynamic = run({"readelf", "-d", TETHER_SHARED_LIBRARY});
  const std::string soname = std::string("libtether.so.") + std::to_string(TETHER_VERSION_MAJOR) + "." +
                             std::to_string(TETHER_VERSION_MINOR);
  EXPECT_NE(dynamic.find("Library soname: [" + soname + "]"), std::string::npos) << dynamic;
}

TEST(SharedLibrary, every_public_header_marks_its_declarations_exported) {
  int headers = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(std::string(TETHER_SOURCE_DIR) + "/include/tether")) {
    if (e.path().extension() != ".hpp") continue;
    const std::string text = read_file(e.path().string());
    EXPECT_NE(text.find("#pragma GCC visibility push(default)"), std::string::npos) << e.path();
    EXPECT_NE(text.find("#pragma GCC visibility pop"), std::string::npos) << e.path();
    ++headers;
  }
  EXPECT_GT(headers, 20);
}

}  // namespace
