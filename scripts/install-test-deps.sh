#!/usr/bin/env bash
# Installs the servers the test suite starts: PostgreSQL 15, Ceph RGW, Prometheus and Alertmanager, zstd and lz4 (Azurite comes from
# npm; GCS has a stand-in in test/), Chromium for the report, and the C/C++ toolchain native modules build with.
# Idempotent: installs nothing that is already there.
set -euo pipefail
apt_updated=""
need() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need postgresql
fi
if ! command -v setpriv >/dev/null; then
  need util-linux
fi
# Debian's Chromium: the report tests open the HTML in it, and `strata report --pdf` prints with it
# (playwright-core drives it; no browser is downloaded).
if ! command -v chromium >/dev/null; then
  need chromium
fi
# Prometheus and Alertmanager: the metrics test loads the shipped rules (promtool checks them),
# scrapes `strata daemon --metrics-listen` and has a firing alert delivered to its webhook.
if ! command -v prometheus >/dev/null; then
  need prometheus
fi
if ! command -v prometheus-alertmanager >/dev/null; then
  need prometheus-alertmanager
fi
# openssl makes the certificate of the SMTP server the alert tests start (STARTTLS).
if ! command -v openssl >/dev/null; then
  need openssl
fi
# The codecs' own CLIs and tar: the compression and packs tests check that `zstd -dc`, `lz4 -dc`,
# `gzip -dc` and `tar -x` alone read what Strata stored.
for tool in zstd lz4 gzip tar; do
  if ! command -v "$tool" >/dev/null; then
    need "$tool"
  fi
done
# A C/C++ compiler, make and Python 3: node-gyp builds zstd-napi's bundled zstd with them
# (`npm ci` needs them before this script runs; here for `npm rebuild` on a machine set up by it).
if ! command -v g++ >/dev/null || ! command -v make >/dev/null; then
  need build-essential
fi
if ! command -v python3 >/dev/null; then
  need python3
fi
# Ceph RGW, the real S3 server of the backend tests (scripts/rgw.sh starts and stops it).
bash "$(dirname "$0")/rgw.sh" install
