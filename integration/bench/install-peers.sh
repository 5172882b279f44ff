#!/usr/bin/env bash
# Installs the proxies sluice is compared with (Debian 12's pgbouncer, pgpool2, haproxy) and gnuplot for
# the plot, and stops and disables any service their packages started: the benchmark runs each peer on
# its own with a config of its own, so nothing may listen on the default ports (6432, 5433, 9999...).
# Usage: install-peers.sh        (as root; safe to run again)
set -euo pipefail

PACKAGES=(pgbouncer pgpool2 haproxy gnuplot-nox)
# The services the packages ship; Debian starts them on install where policy-rc.d allows it.
SERVICES=(pgbouncer pgpool2 haproxy)

log() { printf 'install-peers: %s\n' "$*" >&2; }

((EUID == 0)) || { log "run as root"; exit 1; }

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "all installed: ${PACKAGES[*]}"
fi

for s in "${SERVICES[@]}"; do
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl disable --now "$s" >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/$s ]]; then
    /etc/init.d/"$s" stop >/dev/null 2>&1 || true
    update-rc.d "$s" disable >/dev/null 2>&1 || true
  fi
done
# Whatever still runs from the packages' own configs (a service started by hand, or by an init system
# the loop above did not know) is stopped by pid, never by name pattern.
for pidfile in /run/pgbouncer/pgbouncer.pid /run/postgresql/pgpool.pid /run/pgpool/pgpool.pid /run/haproxy.pid; do
  [[ -r $pidfile ]] || continue
  pid=$(head -n 1 "$pidfile")
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    log "stopping the packaged service with pid $pid ($pidfile)"
    kill -TERM "$pid" 2>/dev/null || true
  fi
done

for bin in /usr/sbin/pgbouncer /usr/sbin/pgpool /usr/sbin/haproxy /usr/bin/gnuplot; do
  [[ -x $bin ]] || { log "missing $bin after install"; exit 1; }
done
log "pgbouncer $(/usr/sbin/pgbouncer --version | head -n 1 | awk '{ print $NF }'), pgpool-II $(/usr/sbin/pgpool --version 2>&1 | awk '{ print $3 }'), $(/usr/sbin/haproxy -v | head -n 1 | awk '{ print $1, $3 }'), $(/usr/bin/gnuplot --version)"
