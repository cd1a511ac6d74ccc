#!/usr/bin/env bash
# A throwaway Ceph RADOS Gateway (a real S3 server) for the test suite, from Debian's packages.
#
#   rgw.sh install          install radosgw, ceph-mon, ceph-osd (quiet no-op when present)
#   rgw.sh start DIR PORT   one monitor + one memstore OSD + radosgw, everything under DIR and on
#                           127.0.0.1 only; S3 on http://127.0.0.1:PORT (path style), user
#                           strata-access / strata-secret; prints "RGW_READY <endpoint>"
#   rgw.sh stop DIR         kill every process started from DIR, wait for it, remove DIR
#
# Auth is off (auth none), there is no manager and no systemd; the OSD keeps its data in RAM.
# With RGW_WATCH_PID=<pid> set, start also leaves a watchdog that runs `stop DIR` once that
# process is gone, so a test runner that dies without cleaning up leaves no daemons behind.
# RGW_SH_TRACE=1 prints the time each phase of start took to stderr.
set -euo pipefail

ACCESS_KEY=strata-access
SECRET_KEY=strata-secret
STORAGE_CLASSES=(STANDARD_IA ONEZONE_IA INTELLIGENT_TIERING GLACIER_IR GLACIER DEEP_ARCHIVE)
PROCESSES=(watchdog radosgw osd mon) # stop order
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

die() {
  echo "rgw.sh: $*" >&2
  exit 1
}

trace() {
  [ "${RGW_SH_TRACE:-}" = 1 ] || return 0
  echo "rgw.sh: $(date +%s.%N | cut -c1-14) $*" >&2
}

cmd_install() {
  local tool missing=0
  for tool in radosgw radosgw-admin ceph-mon ceph-osd ceph monmaptool curl ss setsid; do
    command -v "$tool" >/dev/null || missing=1
  done
  [ "$missing" = 1 ] || return 0
  [ "$(id -u)" = 0 ] || die "the Ceph packages are missing and installing them needs root"
  local log
  log=$(mktemp)
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    radosgw ceph-mon ceph-osd ceph-common ceph-base curl iproute2 util-linux; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    die "installing the Ceph packages failed"
  fi
  rm -f "$log"
}

# A TCP port on 127.0.0.1 that nothing listens on (best effort: start retries the monitor).
free_port() {
  local port tries=0
  while [ $tries -lt 200 ]; do
    port=$((20000 + RANDOM % 30000))
    tries=$((tries + 1))
    [ "$port" = "${1:-}" ] && continue
    if ! listening "$port"; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

# Does anything listen on TCP port PORT?
listening() {
  ss -Htln "sport = :$1" | grep -q .
}

# Is PID a live (not zombie) process with an argument that is DIR or lies under DIR?
ours() {
  local pid=$1 dir=$2 arg
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  while IFS= read -r -d '' arg; do
    [ "$arg" = "$dir" ] || [ "${arg#"$dir"/}" != "$arg" ] && return 0
  done <"/proc/$pid/cmdline"
  return 1
}

# kill_processes DIR [NAME...]: all of them when no NAME is given.
kill_processes() {
  local dir=$1 name pid f pids=() i
  shift
  local names=("$@")
  [ ${#names[@]} -gt 0 ] || names=("${PROCESSES[@]}")
  for name in "${names[@]}"; do
    for f in "$dir/run/$name".pid "$dir/run/$name".*.pid; do
      [ -f "$f" ] || continue
      pid=$(tr -dc 0-9 <"$f")
      [ "$pid" != "$$" ] || continue # a watchdog stopping the cluster
      if ours "$pid" "$dir"; then
        # Nothing here is worth a clean shutdown (a clean memstore OSD writes its RAM to disk).
        kill -KILL "$pid" 2>/dev/null || true
        pids+=("$pid")
      fi
    done
  done
  for pid in "${pids[@]}"; do
    for i in $(seq 1 100); do
      ours "$pid" "$dir" || break
      sleep 0.1
    done
    ! ours "$pid" "$dir" || echo "rgw.sh: process $pid did not exit" >&2
  done
  return 0
}

logs_tail() {
  local dir=$1 f
  for f in "$dir"/log/*; do
    [ -s "$f" ] || continue
    echo "---- ${f#"$dir"/} (last 25 lines) ----" >&2
    tail -n 25 "$f" >&2
  done
}

fail_start() {
  local dir=$1
  shift
  echo "rgw.sh: $*" >&2
  logs_tail "$dir"
  kill_processes "$dir"
  exit 1
}

# Start a process in its own session, detached from our stdio: a caller that waits for our
# pipes to close must not wait for the daemons too.
spawn() {
  local dir=$1 name=$2
  shift 2
  setsid "$@" </dev/null >>"$dir/log/$name.out" 2>&1 &
  echo $! >"$dir/run/$name.spawn.pid"
  disown $!
}

write_conf() {
  local dir=$1 port=$2 fsid=$3 mon_port=$4
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$mon_port]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv4 = true
ms_bind_ipv6 = false
ms_bind_msgr1 = false
ms_bind_msgr2 = true
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
auth_supported = none
ms_mon_client_mode = crc secure
ms_mon_cluster_mode = crc secure
ms_mon_service_mode = crc secure
ms_client_mode = crc secure
ms_cluster_mode = crc secure
ms_service_mode = crc secure
keyring = $dir/keyring
run_dir = $dir/run
crash_dir = $dir/crash
tmp_dir = $dir/tmp
log_file = $dir/log/\$cluster-\$name.log
log_to_stderr = false
err_to_stderr = false
mon_cluster_log_file = $dir/log/\$cluster.log
mon_data = $dir/mon/\$cluster-\$id
osd_data = $dir/osd/\$cluster-\$id
mgr_data = $dir/mgr/\$cluster-\$id
rgw_data = $dir/rgw/\$cluster-\$id
osd_objectstore = memstore
memstore_device_bytes = 5368709120
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 1
mon_data_avail_crit = 0

[mon]
pid_file = $dir/run/mon.pid
# Map changes (each pool RGW creates) commit after 0.1 s instead of 1 s: a faster start.
paxos_propose_interval = 0.1
paxos_min_wait = 0.01

[osd]
pid_file = $dir/run/osd.pid
osd_max_object_name_len = 2048
osd_max_object_namespace_len = 256

[client.rgw]
pid_file = $dir/run/radosgw.pid
rgw_frontends = beast endpoint=127.0.0.1:$port
rgw_enable_usage_log = false
rgw_thread_pool_size = 64
# Deleted objects' data is freed (from RAM) within a minute, not after the default two hours.
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
EOF
}

cmd_start() {
  local dir=${1:-} port=${2:-}
  if [ -z "$dir" ] || [ -z "$port" ]; then die "usage: rgw.sh start DIR PORT"; fi
  [[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number: $port"
  for tool in radosgw radosgw-admin ceph-mon ceph-osd ceph monmaptool curl ss setsid timeout; do
    command -v "$tool" >/dev/null || die "$tool is missing: run 'rgw.sh install'"
  done
  ! listening "$port" || die "port $port on 127.0.0.1 is already taken"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ ! -e "$dir/ceph.conf" ] || die "$dir already holds a cluster"
  mkdir -p "$dir"/{mon,osd,log,run,crash,rgw,tmp}
  : >"$dir/keyring"
  export CEPH_CONF=$dir/ceph.conf
  local conf=$dir/ceph.conf fsid mon_port attempt i
  local ceph=(timeout 30 ceph --connect-timeout 20)
  fsid=$(cat /proc/sys/kernel/random/uuid)
  trace "start"

  if [ -n "${RGW_WATCH_PID:-}" ]; then
    [[ $RGW_WATCH_PID =~ ^[0-9]+$ ]] || die "RGW_WATCH_PID must be a pid: $RGW_WATCH_PID"
    spawn "$dir" watchdog bash "$SELF" watch "$dir" "$RGW_WATCH_PID"
  fi

  # The monitor, on a free port (another run may take the same port first: then try another).
  for attempt in 1 2 3; do
    mon_port=$(free_port "$port")
    write_conf "$dir" "$port" "$fsid" "$mon_port"
    rm -rf "$dir/mon/ceph-a"
    monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" \
      "$dir/monmap" >>"$dir/log/setup.out" 2>&1 || fail_start "$dir" "monmaptool failed"
    ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >>"$dir/log/setup.out" 2>&1 ||
      fail_start "$dir" "ceph-mon --mkfs failed"
    spawn "$dir" mon ceph-mon -c "$conf" -i a -f
    for i in $(seq 1 60); do
      "${ceph[@]}" mon stat >/dev/null 2>&1 && break 2
      ours "$(cat "$dir/run/mon.spawn.pid")" "$dir" || break
      sleep 0.5
    done
    kill_processes "$dir" mon
    [ "$attempt" = 3 ] && fail_start "$dir" "the monitor did not come up on 127.0.0.1:$mon_port"
  done
  trace "monitor up on port $mon_port"

  # One memstore OSD.
  local uuid id
  uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$("${ceph[@]}" osd new "$uuid" 2>>"$dir/log/setup.out") || fail_start "$dir" "ceph osd new failed"
  mkdir -p "$dir/osd/ceph-$id"
  ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >>"$dir/log/setup.out" 2>&1 ||
    fail_start "$dir" "ceph-osd --mkfs failed"
  spawn "$dir" osd ceph-osd -c "$conf" -i "$id" -f
  for i in $(seq 1 120); do
    [ "$("${ceph[@]}" osd stat -f json 2>/dev/null | grep -o '"num_up_osds":[0-9]*')" = '"num_up_osds":1' ] && break
    ours "$(cat "$dir/run/osd.spawn.pid")" "$dir" || fail_start "$dir" "the OSD exited"
    [ "$i" = 120 ] && fail_start "$dir" "the OSD did not come up within 60 s"
    sleep 0.5
  done
  trace "OSD up"

  # The user (this creates the default zonegroup, zone and pools), then the storage classes.
  local admin=(timeout 60 radosgw-admin -c "$conf")
  "${admin[@]}" user create --uid strata --display-name Strata \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >>"$dir/log/setup.out" 2>&1 ||
    fail_start "$dir" "radosgw-admin user create failed"
  trace "user created"
  local class
  for class in "${STORAGE_CLASSES[@]}"; do
    "${admin[@]}" zonegroup placement add --rgw-zonegroup default \
      --placement-id default-placement --storage-class "$class" >>"$dir/log/setup.out" 2>&1 ||
      fail_start "$dir" "zonegroup placement add $class failed"
    "${admin[@]}" zone placement add --rgw-zone default --placement-id default-placement \
      --storage-class "$class" --data-pool default.rgw.buckets.data >>"$dir/log/setup.out" 2>&1 ||
      fail_start "$dir" "zone placement add $class failed"
  done
  trace "storage classes added"

  # The gateway.
  ! listening "$port" || fail_start "$dir" "port $port on 127.0.0.1 was taken meanwhile"
  spawn "$dir" radosgw radosgw -c "$conf" -n client.rgw -f
  local rgw_pid
  rgw_pid=$(cat "$dir/run/radosgw.spawn.pid")
  for i in $(seq 1 180); do
    # Answered by our radosgw (not by another server that took the port).
    ss -Htlnp "sport = :$port" | grep -q "pid=$rgw_pid," &&
      curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port" && break
    ours "$rgw_pid" "$dir" || fail_start "$dir" "radosgw exited"
    [ "$i" = 180 ] && fail_start "$dir" "radosgw did not answer on http://127.0.0.1:$port within 90 s"
    sleep 0.5
  done
  trace "radosgw answers"
  echo "RGW_READY http://127.0.0.1:$port"
}

cmd_stop() {
  local dir=${1:-}
  [ -n "$dir" ] || die "usage: rgw.sh stop DIR"
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  [ "$dir" != / ] || die "refusing to remove /"
  kill_processes "$dir"
  rm -rf "$dir"
}

# The watchdog: once process PID is gone, stop the cluster in DIR.
cmd_watch() {
  local dir=$1 pid=$2
  while [ -e "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
    [ -d "$dir" ] || exit 0
    sleep 2
  done
  cmd_stop "$dir"
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start "${@:2}" ;;
stop) cmd_stop "${@:2}" ;;
watch) cmd_watch "${@:2}" ;;
*) die "usage: rgw.sh install | start DIR PORT | stop DIR" ;;
esac
