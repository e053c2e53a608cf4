# Shared by the loadtest/run-*.sh scripts: sourced, not run. Needs `set -euo
# pipefail`, `$bin` (the release binaries) and `$work` (a throwaway dir) set
# by the caller, and the `pids` array it kills on exit (see `lib_cleanup`).

# Raise the soft limit on open files as far as allowed (1,000 streams hold
# ~2,000 sockets in the gateway, 10,000 idle WebSockets 10,000 in each
# process).
raise_open_files() {
  local hard
  hard=$(ulimit -Hn)
  if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
  ulimit -n "$hard" 2>/dev/null || true
}

# lib_cleanup: stops every process in `pids` and removes `$work`; the
# caller sets `trap lib_cleanup EXIT`.
pids=()
lib_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}

# wait_for FILE SED_EXPR PID: the first match of SED_EXPR in FILE, within 30 s.
wait_for() {
  local found
  for _ in $(seq 300); do
    found=$(sed -n "$2" "$1" | head -n 1)
    if [ -n "$found" ]; then echo "$found"; return 0; fi
    kill -0 "$3" 2>/dev/null || { echo "process $3 exited; see $1" >&2; cat "$1" >&2; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}

# start_sim: a standalone simulator on loopback ephemeral ports, cleartext
# and TLS (HTTP/2 or HTTP/1.1 by ALPN, with a certificate it writes to
# `$work/sim-cert.pem`); sets `sim_addr`, `sim_tls_addr` (host:port) and
# `sim_pid`, and `upstream_env`, how start_gateway reaches it: UPSTREAM=h2
# (the default) over TLS and HTTP/2, so streams share a connection as they
# do with Bedrock; UPSTREAM=h1 over cleartext HTTP/1.1, a connection per
# stream. SIM_LOG (a RUST_LOG filter) is its log level, e.g.
# SIM_LOG=spillway_sim=debug to see each stream's API.
start_sim() {
  RUST_LOG=${SIM_LOG:-$RUST_LOG} \
    "$bin/spillway" sim --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
    --tls-cert-out "$work/sim-cert.pem" >"$work/sim.out" 2>"$work/sim.log" &
  sim_pid=$!
  pids+=("$sim_pid")
  sim_addr=$(wait_for "$work/sim.out" 's#^spillway sim listening on http://\([0-9.]*:[0-9]*\).*#\1#p' "$sim_pid")
  sim_tls_addr=$(wait_for "$work/sim.out" 's#^spillway sim listening on https://\([0-9.]*:[0-9]*\).*#\1#p' "$sim_pid")
  echo "simulator: http://$sim_addr, https://$sim_tls_addr"
  case ${UPSTREAM:-h2} in
    h2) upstream_env=(AWS_ENDPOINT_URL_BEDROCK_RUNTIME="https://$sim_tls_addr"
                      SPILLWAY_UPSTREAM_CA_FILE="$work/sim-cert.pem") ;;
    h1) upstream_env=(AWS_ENDPOINT_URL_BEDROCK_RUNTIME="http://$sim_addr") ;;
    *) echo "UPSTREAM is h2 or h1, not $UPSTREAM" >&2; exit 2 ;;
  esac
  echo "upstream:  ${UPSTREAM:-h2}"
}

# start_gateway [VAR=VALUE…]: a fresh gateway in bedrock mode against the
# simulator start_sim started (the one before, if any, is stopped), with
# VAR=VALUE added to its environment; sets `gw_addr` and `gateway_pid`.
# GATEWAY_ENV ("VAR=VALUE …") is added to every gateway's environment, for
# A/B runs such as GATEWAY_ENV=TOKIO_WORKER_THREADS=1.
gateway_pid=
start_gateway() {
  if [ -n "$gateway_pid" ]; then
    kill "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  # shellcheck disable=SC2086 # GATEWAY_ENV is a list of words
  env -u AWS_PROFILE -u AWS_SESSION_TOKEN \
    "${upstream_env[@]}" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_EC2_METADATA_DISABLED=true \
    SPILLWAY_MAX_CONNECTIONS_PER_USER=${SPILLWAY_MAX_CONNECTIONS_PER_USER:-100000} \
    ${GATEWAY_ENV:-} "$@" \
    "$bin/spillway" serve --listen 127.0.0.1:0 --upstream bedrock --data-dir "$work/data" \
    >"$work/gateway.log" 2>&1 &
  gateway_pid=$!
  pids+=("$gateway_pid")
  gw_addr=$(wait_for "$work/gateway.log" 's#.*spillway listening on http://\([0-9.]*:[0-9]*\).*#\1#p' "$gateway_pid")
  echo "gateway:   http://$gw_addr (pid $gateway_pid)"
}

# mint_token: a dev JWT the gateway accepts (same data dir), exported as
# SPILLWAY_LOADTEST_TOKEN (the load generator reads it; it stays out of `ps`).
mint_token() {
  SPILLWAY_LOADTEST_TOKEN=$("$bin/spillway" token --sub loadtest --ttl 7200 --data-dir "$work/data")
  export SPILLWAY_LOADTEST_TOKEN
}

# machine_txt FILE: where the run happened.
machine_txt() {
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpus: $(nproc)"
    grep -m1 'model name' /proc/cpuinfo 2>/dev/null || true
    echo "kernel: $(uname -sr)"
    echo "open files: $(ulimit -n)"
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "upstream: ${UPSTREAM:-h2}"
  } >"$1"
}
