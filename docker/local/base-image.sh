#!/usr/bin/env bash
# Builds the registry-free Debian base image the local Redis, PostgreSQL and Python images start
# from: debootstrap from the Debian mirror this machine's apt already uses, with the machine's apt
# configuration and extra CA certificates copied in, then `docker import`. Reused once imported.
set -euo pipefail
. "$(dirname "$0")/mirror.sh"

image=${1:-pushworker-local/base:bookworm}
suite=bookworm
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "base image $image: reused"
    exit 0
fi

host_codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
mirror=$(debian_mirror)
if [ -z "$mirror" ]; then
    echo "no Debian mirror for '$host_codename' in this machine's apt sources" >&2
    exit 1
fi

root=$(mktemp -d /var/tmp/pushworker-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" "$mirror" \
    >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; exit 1; }
rm -f "$root.log"

# Inside builds apt must reach the same mirror the same way (snapshot dates, proxies, keys).
if [ "$host_codename" = "$suite" ]; then
    rm -f "$root/etc/apt/sources.list"
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.{list,sources}; do
        if [ -f "$file" ]; then cp "$file" "$root$file"; fi
    done
fi
cp -a /etc/apt/apt.conf.d/. "$root/etc/apt/apt.conf.d/"
cp -an /usr/share/keyrings/. "$root/usr/share/keyrings/"
# A TLS-inspecting proxy's CA must be trusted inside, as it is here.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar -C "$root" --numeric-owner -c . \
    | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$image" >/dev/null
echo "base image $image: built from $suite"
