#!/usr/bin/env bash
# Ensures the Debian packages the test suite needs: PostgreSQL, Redis, Chromium, poppler-utils,
# and Pango with DejaVu fonts for WeasyPrint (PDF reports).
# Installs the missing ones with apt-get when running as root; otherwise names them and stops.
set -euo pipefail

declare -A need=(
  [postgresql]="$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | head -1)"
  [redis-server]="$(command -v redis-server || true)"
  [chromium]="$(command -v chromium || true)"
  [poppler-utils]="$(command -v pdftotext || true)"
  [libpango-1.0-0]="$(ldconfig -p 2>/dev/null | grep -m1 'libpango-1.0.so.0' || true)"
  [libpangoft2-1.0-0]="$(ldconfig -p 2>/dev/null | grep -m1 'libpangoft2-1.0.so.0' || true)"
  [fonts-dejavu-core]="$(ls /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf 2>/dev/null || true)"
)
missing=()
for pkg in "${!need[@]}"; do
  [ -n "${need[$pkg]}" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q "${missing[@]}" >/dev/null
