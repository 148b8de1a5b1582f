#!/usr/bin/env bash
# Start the local PostgreSQL and Redis for the tests if they are installed but stopped,
# and fail with a clear message if the test database cannot be reached.
set -uo pipefail

pg_ready() { pg_isready -q -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" 2>/dev/null; }
redis_ready() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_ready && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  echo "Starting the local PostgreSQL..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_ready && break; sleep 0.5; done
fi
if ! redis_ready && command -v redis-server >/dev/null 2>&1; then
  echo "Starting the local Redis..."
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  for _ in $(seq 1 30); do redis_ready && break; sleep 0.2; done
fi

status=0
if ! pg_ready; then
  echo "ERROR: PostgreSQL is not reachable at ${PGHOST:-127.0.0.1}:${PGPORT:-5432}." >&2
  echo "       The tests need it: install PostgreSQL or set TEST_DATABASE_URL." >&2
  status=1
fi
if ! redis_ready; then
  echo "ERROR: Redis is not reachable at 127.0.0.1:6379 (the worker tests need it)." >&2
  status=1
fi
exit $status
