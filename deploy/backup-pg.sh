#!/bin/sh
# One backup of ballot's PostgreSQL database, for a timer or cron to run (see
# docs/operations.md#backups). pg_dump takes a consistent snapshot while voting goes on; the custom
# format is compressed and pg_restore can read it table by table. The dump is written under a
# temporary name, read back whole (pg_restore --list), and only then renamed: a file named
# ballot-*.dump is always a complete dump. Files are the backup user's alone (umask 077); dumps
# older than BACKUP_KEEP_DAYS are deleted after a new one succeeded, never before.
#
# Connection: libpq's variables (PGHOST, PGPORT, PGUSER, PGDATABASE, and PGPASSWORD, ~/.pgpass or
# PGPASSWORD_FILE, a file holding only the password, e.g. a compose secret).
# PG_BIN: the folder of pg_dump/pg_restore if they are not on PATH (their major version must be at
# least the server's, e.g. /usr/lib/postgresql/16/bin).
set -eu
dir="${BACKUP_DIR:?set BACKUP_DIR to the folder for the dumps}"
keep_days="${BACKUP_KEEP_DAYS:-14}"
bin="${PG_BIN:+$PG_BIN/}"
if [ -n "${PGPASSWORD_FILE:-}" ]; then
  PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
  export PGPASSWORD
fi
umask 077
mkdir -p "$dir"
target="$dir/ballot-$(date -u +%Y%m%dT%H%M%SZ).dump"
partial="$target.partial"
trap 'rm -f "$partial"' EXIT
"${bin}pg_dump" --format=custom --file="$partial"
"${bin}pg_restore" --list "$partial" >/dev/null
mv "$partial" "$target"
find "$dir" -maxdepth 1 -type f -name 'ballot-*.dump' -mtime +"$keep_days" -delete
echo "$target"
