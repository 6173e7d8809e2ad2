#!/bin/sh
# As the official image: `redis-server ...` listens on every interface with protected mode off;
# arguments given later (the compose command's) win over these defaults.
set -eu
if [ "${1:-}" = "redis-server" ]; then
    shift
    exec redis-server --bind '* -::*' --protected-mode no "$@"
fi
exec "$@"
