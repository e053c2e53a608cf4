#!/busybox/sh
# Container entrypoint: work out how the other nodes of a fleet reach this
# one, then run `spillway` with the container's arguments.
#
# Node-to-node relays go straight to each task's own address, not through the
# load balancer, so every node advertises `http://<its IP>:<port>` in the
# registry, the port being its internal listener's (SPILLWAY_INTERNAL_LISTEN,
# where the node-to-node routes are served; SPILLWAY_LISTEN's without one). On ECS (Fargate, awsvpc) that IP is the task's ENI address, which
# only the task metadata endpoint knows; `spillway` itself would advertise its
# bind address (0.0.0.0), which nobody can dial. An explicit
# SPILLWAY_ADVERTISE_URL always wins; outside ECS nothing changes.
set -eu
PATH="$PATH:/busybox"

if [ -z "${SPILLWAY_ADVERTISE_URL:-}" ] && [ -n "${ECS_CONTAINER_METADATA_URI_V4:-}" ]; then
  # This container's metadata: {"Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.1.23"],...}],...}
  meta=$(wget -q -T 5 -O - "$ECS_CONTAINER_METADATA_URI_V4" 2>/dev/null | tr -d ' \t\r\n') || meta=
  ip=$(printf '%s' "$meta" | sed -n 's/.*"IPv4Addresses":\["\([0-9.]*\)".*/\1/p')
  if [ -n "$ip" ]; then
    listen=${SPILLWAY_INTERNAL_LISTEN:-${SPILLWAY_LISTEN:-0.0.0.0:8080}}
    SPILLWAY_ADVERTISE_URL="http://$ip:${listen##*:}"
    export SPILLWAY_ADVERTISE_URL
  else
    echo "spillway-entrypoint: no IPv4 address in the ECS task metadata; SPILLWAY_ADVERTISE_URL stays unset" >&2
  fi
fi

exec spillway "$@"
