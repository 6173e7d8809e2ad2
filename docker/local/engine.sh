#!/usr/bin/env bash
# Installs what the compose test needs from Debian's packages: the Docker engine, debootstrap and
# the compose v2 plugin. Bookworm ships only compose v1, so the plugin comes from trixie's
# docker-compose package (static Go binaries that run on bookworm), downloaded through this
# machine's own mirror with a private apt state that leaves the system's sources untouched.
set -euo pipefail
. "$(dirname "$0")/mirror.sh"

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    echo "installed: ${need[*]}"
fi

if ! docker compose version >/dev/null 2>&1; then
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || { echo "no Debian mirror in this machine's apt sources" >&2; exit 1; }
    state=$(mktemp -d /var/tmp/pushworker-compose-apt.XXXXXX)
    trap 'rm -rf "$state"' EXIT
    mkdir -p "$state/lists/partial" "$state/archives/partial" "$state/sources"
    printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
        "$mirror" /usr/share/keyrings/debian-archive-keyring.gpg >"$state/sources/trixie.sources"
    apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$state/sources"
        -o "Dir::State::Lists=$state/lists" -o "Dir::Cache::Archives=$state/archives"
        -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)
    apt-get "${apt_opts[@]}" update -qq
    (cd "$state" && apt-get "${apt_opts[@]}" download docker-compose >/dev/null)
    DEBIAN_FRONTEND=noninteractive dpkg -i "$state"/docker-compose_*.deb >/dev/null
    echo "installed: docker compose plugin from trixie"
fi
docker compose version
