#!/bin/sh
# PostgreSQL for the shop. The data directory is the task's named volume: the
# first start initialises it (user, password and database from the environment),
# later starts, by this task or its replacement, find the orders already there.
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
: "${POSTGRES_USER:=shop}" "${POSTGRES_DB:=shop}" "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"

mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "database: initialising $PGDATA"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  chown postgres "$pwfile"
  as_postgres "$PGBIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "CREATE DATABASE \"$POSTGRES_DB\";" | as_postgres "$PGBIN/postgres" --single -D "$PGDATA" postgres >/dev/null
else
  echo "database: reusing $PGDATA (PG_VERSION $(cat "$PGDATA/PG_VERSION"))"
fi

# PostgreSQL stops fast on SIGINT (the image's STOPSIGNAL): open connections end.
exec setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/postgres" -D "$PGDATA" \
  -c listen_addresses='*' -c max_connections=200 -c unix_socket_directories=/run/postgresql
