// The load generator's building blocks: latency histogram, byte pattern, CPU time of a process.
#include "bench.hpp"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <unistd.h>

namespace tether::cli::bench {

namespace {

constexpr std::uint64_t kLinear = 2u << Histogram::sub_bits;  // values below this are exact
constexpr std::uint64_t kSub = 1u << Histogram::sub_bits;

std::size_t bucket_of(std::uint64_t v) noexcept {
  if (v < kLinear) return static_cast<std::size_t>(v);
  const int shift = static_cast<int>(std::bit_width(v)) - (Histogram::sub_bits + 1);
  const std::uint64_t mantissa = v >> shift;  // in [kSub, 2 * kSub)
  const std::size_t index = kLinear + static_cast<std::size_t>(shift - 1) * kSub + (mantissa - kSub);
  return std::min(index, Histogram::buckets - 1);
}

std::uint64_t bucket_mid(std::size_t index) noexcept {
  if (index < kLinear) return index;
  const std::size_t rel = index - kLinear;
  const int shift = static_cast<int>(rel / kSub) + 1;
  const std::uint64_t mantissa = kSub + rel % kSub;
  const std::uint64_t low = mantissa << shift;
  return low + ((std::uint64_t{1} << shift) >> 1);
}

}  // namespace

void Histogram::record(std::uint64_t ns) noexcept {
  ++counts_[bucket_of(ns)];
  ++count_;
  sum_ += ns;
  if (ns > max_) max_ = ns;
}

void Histogram::merge(const Histogram& other) noexcept {
  for (std::size_t i = 0; i < buckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

std::uint64_t Histogram::quantile(double q) const noexcept {
  if (count_ == 0) return 0;
  if (q >= 1.0) return max_;
  const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets; ++i) {
    seen += counts_[i];
    if (seen > rank) return std::min(bucket_mid(i), max_);
  }
  return max_;
}

Pattern::Pattern() : bytes_(2 * period) {
  std::mt19937_64 rng(0x7e7e7);  // fixed: the pattern is the same in every run
  for (std::size_t i = 0; i < period; ++i) bytes_[i] = static_cast<std::byte>(rng() >> 56);
  std::copy(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(period),
            bytes_.begin() + static_cast<std::ptrdiff_t>(period));
}

const Pattern& Pattern::get() {
  static const Pattern pattern;
  return pattern;
}

std::int64_t process_cpu_ns(int pid) {
  // Nanosecond run time of every thread (schedstat), else utime + stime in clock ticks (stat).
  std::error_code ec;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::int64_t total = 0;
  bool any = false;
  for (const auto& entry : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream in(entry.path() / "schedstat");
    std::int64_t run_ns = 0;
    if (in >> run_ns) {
      total += run_ns;
      any = true;
    }
  }
  if (any) return total;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return -1;
  const auto paren = line.rfind(')');
  if (paren == std::string::npos) return -1;
  unsigned long long utime = 0, stime = 0;
  // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
  if (std::sscanf(line.c_str() + paren + 1,
                  " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) {
    return -1;
  }
  const long hz = ::sysconf(_SC_CLK_TCK);
  return static_cast<std::int64_t>((utime + stime) * (1'000'000'000ull / static_cast<unsigned long long>(hz)));
}

}  // namespace tether::cli::bench
