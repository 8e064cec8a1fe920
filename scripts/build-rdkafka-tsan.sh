#!/usr/bin/env bash
# build-rdkafka-tsan.sh DIR - builds Debian's own librdkafka source (the version the
# system has) with pthreads instead of libc's C11 threads, into DIR, for the
# ThreadSanitizer build only. TSan does not follow C11 thrd_create and crashes in
# librdkafka's threads (librdkafka PR #2541 added --disable-c11threads for this).
# Nothing is downloaded but Debian's source package; the result is cached in DIR.
set -euo pipefail
dir=$(realpath -m "${1:-build-deps/rdkafka-pthreads}")
[ -f "$dir/lib/pkgconfig/rdkafka.pc" ] && exit 0

# the source package comes from the same Debian mirror the machine installs from
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
if [ -z "$mirror" ]; then
  echo "build-rdkafka-tsan: no Debian mirror found in /etc/apt sources" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/parts" "$work/lists/partial"
cat > "$work/parts/src.sources" <<SRC
Types: deb-src
URIs: $mirror
Suites: $(. /etc/os-release && echo "$VERSION_CODENAME")
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt_src=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$work/parts" -o APT::Sandbox::User=root
         -o "Dir::State::Lists=$work/lists")
version=$(dpkg-query -W -f='${Version}' librdkafka-dev)
echo "build-rdkafka-tsan: librdkafka $version from Debian's source, with pthreads"
apt-get "${apt_src[@]}" update -q >/dev/null
(cd "$work" && apt-get "${apt_src[@]}" source --download-only -q "librdkafka=$version" >/dev/null 2>&1)
tar xzf "$work"/librdkafka_*.orig.tar.gz -C "$work"
cd "$work"/librdkafka-*/
./configure --prefix="$dir" --disable-c11threads --disable-ssl --disable-sasl --disable-gssapi \
    --disable-zstd --disable-lz4-ext --disable-curl --disable-zlib >/dev/null
make -j "$(nproc)" -C src >/dev/null
make -C src install >/dev/null
echo "build-rdkafka-tsan: installed in $dir"
