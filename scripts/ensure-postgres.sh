#!/usr/bin/env bash
# The PostgreSQL tests start their own throw-away cluster with Debian's server binaries.
# Install those binaries when missing (we run as root on dev machines and in CI);
# without root the postgres tests skip with a message saying how to install them.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "PostgreSQL server binaries not found; the postgres tests will be skipped." >&2
  echo "Install them with: sudo apt-get install -y postgresql" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq postgresql >/dev/null
# Debian starts a default cluster on install; our tests run their own, so stop it.
(service postgresql stop || pg_ctlcluster --force 15 main stop || true) >/dev/null 2>&1
