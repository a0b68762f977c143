#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages tether needs to build, test and benchmark.
#   scripts/install-deps.sh            build + test packages (the test peers: nc, ncat, socat, sockperf)
#   scripts/install-deps.sh --bench    also the benchmark peers (Asio, libuv, iperf3, gnuplot, strace)
#   scripts/install-deps.sh --fuzz     also clang's fuzzer runtime
#   scripts/install-deps.sh --docs     also Doxygen (make docs)
#   scripts/install-deps.sh --check    print what is missing and exit 1 if anything is
set -euo pipefail

build_pkgs=(cmake ninja-build g++ pkg-config netbase libcli11-dev libfmt-dev libgtest-dev libgmock-dev
            libbenchmark-dev liburing-dev libssl-dev)
test_pkgs=(netcat-openbsd ncat socat sockperf python3 iproute2 iptables
           zsh groff-base dpkg-dev doxygen)  # completions, man pages, the .deb deps (dpkg-shlibdeps), make docs
bench_pkgs=(libasio-dev libuv1-dev iperf3 gnuplot-nox strace)
fuzz_pkgs=(clang-19 libclang-rt-19-dev)  # clang >= 19: std::expected with libstdc++
docs_pkgs=(doxygen)

want=("${build_pkgs[@]}" "${test_pkgs[@]}")
check_only=0
for arg in "$@"; do
  case "$arg" in
    --bench) want+=("${bench_pkgs[@]}") ;;
    --fuzz) want+=("${fuzz_pkgs[@]}") ;;
    --docs) want+=("${docs_pkgs[@]}") ;;
    --all) want+=("${bench_pkgs[@]}" "${fuzz_pkgs[@]}" "${docs_pkgs[@]}") ;;
    --check) check_only=1 ;;
    *) echo "install-deps.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$check_only" = 1 ]; then
  echo "missing packages: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "tether needs these Debian packages; run as root:" >&2
  echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
