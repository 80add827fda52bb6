#!/bin/sh
# Entry of an organization-mode app server (the Dockerfile's CMD; CI runs this same script).
# Needs BALLOT_DATABASE_URL (PostgreSQL) and the instance secret: BALLOT_SECRET_KEY, or
# secret.key in the instance volume ($BALLOT_INSTANCE), shared by every app server.
set -eu
: "${BALLOT_DATABASE_URL:?set BALLOT_DATABASE_URL, e.g. postgresql+psycopg://ballot@db/ballot}"
instance="${BALLOT_INSTANCE:-/data}"
export BALLOT_INSTANCE="$instance"
# The database password from a file (a compose or Docker secret), never in the URL or the environment.
if [ -n "${PGPASSWORD_FILE:-}" ]; then
  PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
  export PGPASSWORD
fi
# With arguments, run that one `ballot` command instead of serving (compose's one-shot
# `migrate` service runs `init`: schema, instance secret and signing key, once for every server).
if [ "$#" -gt 0 ]; then
  exec ballot "$@"
fi
if [ -z "${BALLOT_SECRET_KEY:-}" ] && [ ! -f "$instance/secret.key" ]; then
  echo "no instance secret: set BALLOT_SECRET_KEY or put secret.key (from 'ballot init') in $instance" >&2
  exit 2
fi
# Behind a reverse proxy (the usual setup) set BALLOT_TRUSTED_PROXIES to the number of proxies in
# front of this server (1 for one nginx/Caddy): else every voter has the proxy's address and the
# whole hall shares one allowance of wrong codes. Leave it 0 only when clients connect directly.
if [ -z "${BALLOT_TRUSTED_PROXIES:-}" ]; then
  echo "note: BALLOT_TRUSTED_PROXIES is not set; behind a reverse proxy set it (e.g. 1), or every voter shares one rate limit" >&2
fi
# Migrations are idempotent; with several servers starting at once, run them from one (BALLOT_MIGRATE=0 elsewhere).
if [ "${BALLOT_MIGRATE:-1}" = "1" ]; then
  ballot db upgrade
fi
set -- --host "${BALLOT_HOST:-0.0.0.0}" --port "${BALLOT_PORT:-8000}" \
  --workers "${BALLOT_WORKERS:-4}" --threads "${BALLOT_THREADS:-8}"
if [ -n "${BALLOT_PUBLIC_URL:-}" ]; then
  set -- "$@" --public-url "$BALLOT_PUBLIC_URL"
fi
exec ballot serve "$@"
