#!/usr/bin/env bash
# deb_test.sh BUILD_DIR WORK_DIR: `cpack -G DEB` (what `make package` runs), then the package is
# unpacked into a staging directory this test owns (dpkg -x; no root, no container) and its tether
# runs: --version, and a loopback exchange between its listen and its connect.
# Exit 0 pass, 1 fail, 77 skipped (no dpkg-deb).
set -euo pipefail
build=$1 work=$2
command -v dpkg-deb >/dev/null || { echo "SKIP: dpkg-deb is not installed"; exit 77; }
rm -rf "$work"; mkdir -p "$work"
pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/cpack" -D CPACK_OUTPUT_FILE_PREFIX="$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/out/*.deb 2>/dev/null | head -1 || true)
[ -n "$deb" ] || fail "cpack made no .deb"
dpkg-deb --info "$deb" >"$work/info.txt"
grep -q "Package: tether" "$work/info.txt" || fail "no Package field"
grep -q "Depends:.*libc6" "$work/info.txt" || { cat "$work/info.txt"; fail "no libc6 dependency"; }
dpkg-deb --contents "$deb" >"$work/contents.txt"
for f in ./usr/bin/tether ./usr/include/tether/tether.hpp /tether.pc /libtether.so.0.1 /libtether.a \
         ./usr/share/man/man1/tether.1 ./usr/share/man/man1/tether-ss.1 \
         ./usr/share/bash-completion/completions/tether ./usr/share/zsh/vendor-completions/_tether \
         /cmake/tether/tetherConfig.cmake; do
  grep -qF -- "$f" "$work/contents.txt" || fail "package lacks $f"
done

stage="$work/root"
dpkg -x "$deb" "$stage"
tether="$stage/usr/bin/tether"
version=$("$tether" --version)
[[ "$version" == "tether "* ]] || fail "--version printed '$version'"

# Loopback exchange: the staged listen and connect, port 0, a message each way.
mkfifo "$work/server.in"
"$tether" listen -v 127.0.0.1 0 <"$work/server.in" >"$work/server.out" 2>"$work/server.log" &
pid=$!
exec 3>"$work/server.in"
for _ in $(seq 100); do grep -q listening "$work/server.log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening.* local=[^ ]*:\([0-9]*\).*/\1/p' "$work/server.log")
[ -n "$port" ] || fail "the staged server did not listen: $(cat "$work/server.log")"
echo "reply from the server" >&3
exec 3>&-
reply=$(echo "hello from the client" | timeout 10 "$tether" connect 127.0.0.1 "$port")
wait "$pid"; pid=
[ "$reply" = "reply from the server" ] || fail "client got '$reply'"
grep -qx "hello from the client" "$work/server.out" || fail "server got '$(cat "$work/server.out")'"
echo "ok: $(basename "$deb") unpacked, $version, loopback exchange both ways"
