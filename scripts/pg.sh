#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the tests: `scripts/pg.sh start DIR` prints a URL,
# `scripts/pg.sh stop DIR` removes it. initdb refuses root, so as root it runs as an
# unprivileged system user.
set -euo pipefail
cmd="$1"; dir="$2"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL server binaries not found" >&2; exit 1; }
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  id ballotpg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ballotpg
  as_user=(runuser -u ballotpg --)
fi
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown ballotpg "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${as_user[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
    "${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o \
      "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    "${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
esac
