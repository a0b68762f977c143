// Micro-benchmarks: endpoint parsing and formatting (the CLI and every log line do these).
#include <tether/endpoint.hpp>

#include <benchmark/benchmark.h>

namespace {

void BM_EndpointParseIpv4(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(tether::Endpoint::parse("192.168.100.200:8080"));
}
BENCHMARK(BM_EndpointParseIpv4);

void BM_EndpointParseIpv6(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(tether::Endpoint::parse("[2001:db8::8a2e:370:7334]:443"));
}
BENCHMARK(BM_EndpointParseIpv6);

void BM_EndpointParseUnix(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(tether::Endpoint::parse("unix:/run/tether/app.sock"));
}
BENCHMARK(BM_EndpointParseUnix);

void BM_EndpointFormatIpv4(benchmark::State& state) {
  const auto ep = *tether::Endpoint::parse("192.168.100.200:8080");
  for (auto _ : state) benchmark::DoNotOptimize(ep.to_string());
}
BENCHMARK(BM_EndpointFormatIpv4);

void BM_EndpointFormatIpv6(benchmark::State& state) {
  const auto ep = *tether::Endpoint::parse("[2001:db8::8a2e:370:7334]:443");
  for (auto _ : state) benchmark::DoNotOptimize(ep.to_string());
}
BENCHMARK(BM_EndpointFormatIpv6);

void BM_EndpointHash(benchmark::State& state) {
  const auto ep = *tether::Endpoint::parse("[2001:db8::8a2e:370:7334]:443");
  for (auto _ : state) benchmark::DoNotOptimize(ep.hash());
}
BENCHMARK(BM_EndpointHash);

}  // namespace
