#!/usr/bin/env bash
# The parts of the official image's docker-entrypoint.sh this project relies on: first-start
# initialisation from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, then the server.
set -Eeuo pipefail

if [[ ${1:-} == "postgres" && $(id -u) == 0 ]]; then
    mkdir -p "${PGDATA}"
    chown postgres:postgres "${PGDATA}"
    chmod 700 "${PGDATA}"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [[ ${1:-} == "postgres" && ! -s "${PGDATA}/PG_VERSION" ]]; then
    if [[ -z ${POSTGRES_PASSWORD:-} ]]; then
        echo "Error: the database is uninitialized and POSTGRES_PASSWORD is not set." >&2
        exit 1
    fi
    user=${POSTGRES_USER:-postgres}
    database=${POSTGRES_DB:-${user}}
    # UTF8, as the official image (LANG=en_US.utf8); C.UTF-8 needs no locale package.
    initdb --username="${user}" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD}") \
        --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-}
    echo "listen_addresses = '*'" >> "${PGDATA}/postgresql.conf"
    echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >> "${PGDATA}/pg_hba.conf"
    if [[ ${database} != "postgres" ]]; then
        # Local socket only while initialising, like the official image's temporary server.
        pg_ctl --wait --options="-c listen_addresses=''" start
        psql --username="${user}" --dbname=postgres --set ON_ERROR_STOP=1 \
            --set database="${database}" <<<'CREATE DATABASE :"database";'
        pg_ctl --wait --mode=fast stop
    fi
    echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
