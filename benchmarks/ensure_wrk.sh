# Sourced by benchmarks/run and benchmarks/compare: sets HAVE_WRK=1 when wrk is (or could be made) available.
# Installs it with apt-get when missing, running as root, and apt-get exists (Debian/Ubuntu); otherwise says why
# and leaves HAVE_WRK=0 so the HTTP benchmarks are skipped.
HAVE_WRK=1
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "wrk not found: installing it (apt-get install -y wrk)" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; then
      apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null || true
    fi
  fi
  if ! command -v wrk >/dev/null; then
    echo "wrk not found and not installable here (needs root + apt-get): install wrk to run the HTTP" \
      "benchmarks (https://github.com/wg/wrk); skipping them" >&2
    HAVE_WRK=0
  fi
fi
