#!/usr/bin/env bash
# Stop exactly the daemons .ci/slurm/start.sh started (by their recorded PIDs).
set -u
state=${1:?state dir}
for name in slurmd slurmctld munged; do
  pidfile="$state/$name.pid"
  [ -s "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 20); do
    # A stopped daemon lingers as a zombie for a moment: check its state, not kill -0.
    state_char=$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)
    [ -z "$state_char" ] || [ "$state_char" = Z ] && break
    sleep 0.25
  done
  rm -f "$pidfile"
done
