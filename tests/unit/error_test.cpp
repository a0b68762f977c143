// The error model: tether's category, the resolver's category, errno codes and fail().
#include "testing.hpp"

#include <netdb.h>

#include <set>
#include <string>

using tether::Errc;

TEST(Error, tether_category_names_every_condition_distinctly) {
  EXPECT_STREQ(tether::error_category().name(), "tether");
  std::set<std::string> messages;
  for (int v = static_cast<int>(Errc::empty_input); v <= static_cast<int>(Errc::cancelled); ++v) {
    std::error_code ec = tether::make_error_code(static_cast<Errc>(v));
    EXPECT_EQ(&ec.category(), &tether::error_category());
    EXPECT_EQ(ec.value(), v);
    EXPECT_FALSE(ec.message().empty()) << v;
    EXPECT_NE(ec.message(), "unknown tether error") << v;
    messages.insert(ec.message());
  }
  EXPECT_EQ(messages.size(),
            static_cast<std::size_t>(static_cast<int>(Errc::cancelled)));
  EXPECT_EQ(std::error_code(9999, tether::error_category()).message(), "unknown tether error");
}

TEST(Error, errc_compares_with_error_code) {
  std::error_code ec = Errc::bad_port;  // implicit through is_error_code_enum
  EXPECT_EQ(ec, Errc::bad_port);
  EXPECT_NE(ec, Errc::bad_address);
  EXPECT_NE(ec, std::errc::invalid_argument);
  EXPECT_NE(ec.message().find("port"), std::string::npos) << ec.message();
  EXPECT_TRUE(static_cast<bool>(ec));
}

TEST(Error, resolve_category_uses_gai_strerror) {
  EXPECT_STREQ(tether::resolve_category().name(), "resolve");
  std::error_code ec(EAI_NONAME, tether::resolve_category());
  EXPECT_EQ(ec.message(), gai_strerror(EAI_NONAME));
  EXPECT_NE(ec.category(), std::system_category());
}

TEST(Error, errno_code_matches_portable_conditions) {
  auto ec = tether::errno_code(ECONNREFUSED);
  EXPECT_EQ(&ec.category(), &std::system_category());
  EXPECT_EQ(ec, std::errc::connection_refused);
  EXPECT_EQ(tether::errno_code(ETIMEDOUT), std::errc::timed_out);
}

TEST(Error, fail_builds_unexpected_results) {
  auto f = []() -> tether::Result<int> { return tether::fail(Errc::missing_port); };
  auto r = f();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::missing_port);
  auto g = []() -> tether::Status { return tether::fail(tether::errno_code(EPIPE)); };
  auto s = g();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), std::errc::broken_pipe);
}
