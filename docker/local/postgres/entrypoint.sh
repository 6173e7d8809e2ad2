#!/bin/sh
# The official image's start-up contract: on an empty PGDATA, create the cluster with
# POSTGRES_USER (default postgres) as superuser and POSTGRES_PASSWORD, allow password logins from
# other hosts, create POSTGRES_DB (default the user's name); then run the command.
set -eu
if [ "${1:-}" = "postgres" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust \
            --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
        rm -f "$pwfile"
        echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
        echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
        if [ "$db" != "postgres" ]; then
            quoted_db=$(printf '%s' "$db" | sed 's/"/""/g')
            quoted_user=$(printf '%s' "$user" | sed 's/"/""/g')
            echo "CREATE DATABASE \"$quoted_db\" OWNER \"$quoted_user\"" \
                | postgres --single -D "$PGDATA" -j postgres >/dev/null
        fi
    fi
fi
exec "$@"
