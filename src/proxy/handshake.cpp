// The SOCKS5 / SOCKS4(a) / HTTP CONNECT handshakes as a state machine (tether/proxy.hpp).
#include <tether/proxy.hpp>

#include <netinet/in.h>

#include <cstring>

namespace tether {

namespace {

constexpr std::size_t max_http_reply = 16 * 1024;

std::string base64(std::string_view in) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

void put_port(std::string& s, std::uint16_t port) {
  s += static_cast<char>(port >> 8);
  s += static_cast<char>(port & 0xFF);
}

std::errc socks5_error(unsigned char rep) {
  switch (rep) {
    case 2: return std::errc::permission_denied;
    case 3: return std::errc::network_unreachable;
    case 4: return std::errc::host_unreachable;
    case 5: return std::errc::connection_refused;
    case 6: return std::errc::timed_out;
    case 7: return std::errc::operation_not_supported;
    case 8: return std::errc::address_family_not_supported;
    default: return std::errc::connection_refused;
  }
}

}  // namespace

std::optional<ProxyType> parse_proxy_type(std::string_view text) {
  if (text == "socks5") return ProxyType::socks5;
  if (text == "socks4") return ProxyType::socks4;
  if (text == "http") return ProxyType::http;
  return std::nullopt;
}

ProxyHandshake::ProxyHandshake(const ProxyOptions& options, std::string_view host, std::uint16_t port,
                               std::optional<Endpoint> resolved)
    : options_(options), host_(host), port_(port), resolved_(std::move(resolved)) {
  if (resolved_) *resolved_ = resolved_->unmapped();
  switch (options_.type) {
    case ProxyType::socks5:
      if (!resolved_ && host_.size() > 255) { fail_with(std::errc::invalid_argument, "host name too long"); return; }
      if (options_.user.size() > 255 || options_.password.size() > 255) {
        { fail_with(std::errc::invalid_argument, "user or password too long for SOCKS5"); return; }
      }
      out_ = options_.user.empty() ? std::string("\x05\x01\x00", 3) : std::string("\x05\x02\x00\x02", 4);
      break;
    case ProxyType::socks4:
      if (resolved_ && resolved_->kind() != EndpointKind::ipv4) {
        { fail_with(std::errc::address_family_not_supported, "SOCKS4 carries IPv4 only"); return; }
      }
      step_ = 10;
      start_connect();
      break;
    case ProxyType::http:
      step_ = 20;
      start_connect();
      break;
  }
}

void ProxyHandshake::fail_with(std::errc e, std::string why) {
  state_ = State::failed;
  error_ = std::make_error_code(e);
  detail_ = std::move(why);
  out_.clear();
}

void ProxyHandshake::sent() noexcept {
  if (state_ != State::send) return;
  out_.clear();
  in_.clear();
  state_ = State::receive;
  switch (step_) {
    case 0: need_ = 2; break;   // SOCKS5 method choice
    case 1: need_ = 2; break;   // SOCKS5 authentication status
    case 2: need_ = 5; break;   // SOCKS5 reply: the head, then the address's rest
    case 10: need_ = 8; break;  // SOCKS4 reply
    default: need_ = 1; break;  // HTTP: a byte at a time, never past the blank line
  }
}

std::size_t ProxyHandshake::wanted() const noexcept {
  if (state_ != State::receive) return 0;
  return need_ > in_.size() ? need_ - in_.size() : 0;
}

void ProxyHandshake::feed(std::span<const std::byte> data) {
  if (state_ != State::receive) return;
  const std::size_t take = std::min(data.size(), wanted());
  in_.append(reinterpret_cast<const char*>(data.data()), take);
  if (step_ == 20) {
    if (in_.size() >= 4 && in_.compare(in_.size() - 4, 4, "\r\n\r\n") == 0) return on_reply();
    if (in_.size() >= max_http_reply) return fail_with(std::errc::protocol_error, "HTTP reply too long");
    need_ = in_.size() + 1;
    return;
  }
  if (in_.size() >= need_) on_reply();
}

void ProxyHandshake::start_connect() {
  state_ = State::send;
  out_.clear();
  if (step_ == 10) {  // SOCKS4 / SOCKS4a
    out_ = std::string("\x04\x01", 2);
    put_port(out_, port_);
    if (resolved_) {
      const auto* sa = reinterpret_cast<const sockaddr_in*>(resolved_->data());
      out_.append(reinterpret_cast<const char*>(&sa->sin_addr), 4);
    } else {
      out_.append("\x00\x00\x00\x01", 4);
    }
    out_ += options_.user;
    out_ += '\0';
    if (!resolved_) {
      out_ += host_;
      out_ += '\0';
    }
    return;
  }
  if (step_ == 20) {  // HTTP CONNECT
    const std::string authority =
        (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
    out_ = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
    if (!options_.user.empty()) {
      out_ += "Proxy-Authorization: Basic " + base64(options_.user + ":" + options_.password) + "\r\n";
    }
    out_ += "\r\n";
    return;
  }
  step_ = 2;  // SOCKS5 CONNECT
  out_ = std::string("\x05\x01\x00", 3);
  if (resolved_ && resolved_->kind() == EndpointKind::ipv4) {
    out_ += '\x01';
    out_.append(reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in*>(resolved_->data())->sin_addr), 4);
  } else if (resolved_ && resolved_->kind() == EndpointKind::ipv6) {
    out_ += '\x04';
    out_.append(reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in6*>(resolved_->data())->sin6_addr), 16);
  } else {
    out_ += '\x03';
    out_ += static_cast<char>(host_.size());
    out_ += host_;
  }
  put_port(out_, port_);
}

void ProxyHandshake::on_reply() {
  const auto* r = reinterpret_cast<const unsigned char*>(in_.data());
  switch (step_) {
    case 0:  // method choice
      if (r[0] != 5) return fail_with(std::errc::protocol_error, "not a SOCKS5 reply");
      if (r[1] == 0) return start_connect();
      if (r[1] == 2 && !options_.user.empty()) {
        step_ = 1;
        state_ = State::send;
        out_ = "\x01";
        out_ += static_cast<char>(options_.user.size());
        out_ += options_.user;
        out_ += static_cast<char>(options_.password.size());
        out_ += options_.password;
        return;
      }
      return fail_with(std::errc::permission_denied, "no acceptable authentication method");
    case 1:  // authentication status
      if (r[0] != 1) return fail_with(std::errc::protocol_error, "not a SOCKS5 authentication reply");
      if (r[1] != 0) return fail_with(std::errc::permission_denied, "authentication refused");
      return start_connect();
    case 2: {  // CONNECT reply
      if (r[0] != 5 || r[2] != 0) return fail_with(std::errc::protocol_error, "not a SOCKS5 reply");
      if (r[1] != 0) return fail_with(socks5_error(r[1]), "SOCKS5 reply " + std::to_string(r[1]));
      std::size_t total = 0;
      switch (r[3]) {
        case 1: total = 10; break;
        case 4: total = 22; break;
        case 3: total = 7 + r[4]; break;
        default: return fail_with(std::errc::protocol_error, "bad SOCKS5 address type");
      }
      if (in_.size() < total) {
        need_ = total;
        return;
      }
      state_ = State::done;
      return;
    }
    case 10:  // SOCKS4 reply
      if (r[0] != 0 && r[0] != 4) return fail_with(std::errc::protocol_error, "not a SOCKS4 reply");
      if (r[1] == 0x5A) {
        state_ = State::done;
        return;
      }
      if (r[1] == 0x5B) return fail_with(std::errc::connection_refused, "SOCKS4 request rejected");
      if (r[1] == 0x5C || r[1] == 0x5D) return fail_with(std::errc::permission_denied, "SOCKS4 identd check failed");
      return fail_with(std::errc::protocol_error, "bad SOCKS4 reply code");
    default: {  // HTTP status line: HTTP/1.x NNN reason
      const auto eol = in_.find("\r\n");
      const std::string line = in_.substr(0, eol);
      detail_ = line;
      if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 || line[8] != ' ') {
        return fail_with(std::errc::protocol_error, "not an HTTP reply");
      }
      int code = 0;
      for (int i = 9; i < 12; ++i) {
        if (line[static_cast<std::size_t>(i)] < '0' || line[static_cast<std::size_t>(i)] > '9') {
          return fail_with(std::errc::protocol_error, "not an HTTP status");
        }
        code = code * 10 + (line[static_cast<std::size_t>(i)] - '0');
      }
      if (code >= 200 && code < 300) {
        state_ = State::done;
        return;
      }
      auto saved = line;
      fail_with(code == 407 || code == 403 ? std::errc::permission_denied : std::errc::connection_refused, saved);
      return;
    }
  }
}

}  // namespace tether
