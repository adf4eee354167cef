#!/usr/bin/env bash
# A throw-away Docker-API engine for tests: Podman's service, all state in one
# temp folder, running in its own network namespace.
#
#   scripts/engine.sh start             start one; prints the socket path (stdout, one line)
#   scripts/engine.sh kill SOCKET       kill the service only (SIGKILL): the socket file
#                                       stays, containers keep running (an engine crash)
#   scripts/engine.sh revive SOCKET     start the service again on the same state and socket
#   scripts/engine.sh podman SOCKET ... run the podman CLI on that engine's state (debugging)
#   scripts/engine.sh stop SOCKET       remove every container, stop the service,
#                                       unmount what it mounted, delete the folder
#
# DOCKER_HOST=unix://SOCKET points tailcast (or curl --unix-socket) at it.
# The image localhost/busybox:test (a static busybox, CMD /bin/sh) is built
# from the host's /bin/busybox. This script installs nothing: it needs the
# Debian packages  podman runc busybox-static  (apt-get install
# --no-install-recommends), util-linux (unshare) and root.
#
# Why each setting (measured on Debian 12, see shared/notes/docker-engine.md):
# runc because crun refuses hybrid cgroups here; low default ulimits because
# raising RLIMIT_NOFILE is not permitted in this sandbox; file locks, events
# and every path in the temp folder so that two engines never share state.
set -euo pipefail

IMAGE=localhost/busybox:test
READY_TIMEOUT=${ENGINE_READY_TIMEOUT:-30}

die() {
    echo "engine.sh: $*" >&2
    exit 1
}

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found (install: $2)"
}

# Point the podman CLI at the state in folder $1.
use_dir() {
    export CONTAINERS_CONF="$1/containers.conf"
    export CONTAINERS_STORAGE_CONF="$1/storage.conf"
    export CONTAINERS_REGISTRIES_CONF="$1/registries.conf"
    export TMPDIR="$1/tmp"
}

dir_of() {
    local socket=${1:?socket path}
    socket=${socket#unix://}
    local dir
    dir=$(dirname "$socket")
    [[ -f "$dir/containers.conf" ]] || die "$dir is not an engine folder made by this script"
    printf '%s\n' "$dir"
}

write_config() {
    local dir=$1
    mkdir -p "$dir"/{graph,run,tmp,volumes,networks}
    cat >"$dir/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$dir/graph"
runroot = "$dir/run"
EOF
    cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"
netns = "none"

[network]
network_config_dir = "$dir/networks"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
lock_type = "file"
tmp_dir = "$dir/libpod-tmp"
volume_path = "$dir/volumes"
image_copy_tmp_dir = "$dir/tmp"
EOF
    : >"$dir/registries.conf"
}

build_image() {
    local dir=$1 root
    [[ -x /bin/busybox ]] || die "/bin/busybox not found (install: busybox-static)"
    file_type=$(head -c 4 /bin/busybox | od -An -c | tr -d ' ')
    [[ $file_type == 177ELF ]] || die "/bin/busybox is not an ELF binary"
    root="$dir/rootfs"
    mkdir -p "$root/bin" "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    ln -sf busybox "$root/bin/sh"
    tar -C "$root" -cf "$dir/rootfs.tar" .
    podman import --quiet --change 'CMD ["/bin/sh"]' "$dir/rootfs.tar" "$IMAGE" >/dev/null
    rm -rf "$root" "$dir/rootfs.tar"
}

start_service() {
    local dir=$1 socket="$1/docker.sock" pid
    rm -f "$socket"
    # setsid: the service must not get the caller's terminal signals; its own
    # network namespace keeps every container off the host's interfaces.
    setsid unshare --net podman system service --time=0 "unix://$socket" \
        >>"$dir/service.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/service.pid"
    local deadline=$((SECONDS + READY_TIMEOUT))
    until curl -fsS --max-time 2 --unix-socket "$socket" http://d/_ping >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$dir/service.log" >&2 || true
            die "the podman service exited while starting"
        fi
        ((SECONDS < deadline)) || die "the podman service did not answer within ${READY_TIMEOUT}s"
        sleep 0.1 # waiting for an external daemon to answer; bounded by the deadline
    done
}

kill_service() {
    local dir=$1 pid
    [[ -f "$dir/service.pid" ]] || return 0
    pid=$(cat "$dir/service.pid")
    # Only the process this script started: its pid is recorded and it must
    # still be a podman service (pids get reused).
    if kill -0 "$pid" 2>/dev/null && grep -q podman "/proc/$pid/cmdline" 2>/dev/null; then
        kill "-${2:-TERM}" "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05 # bounded wait for the process to go away
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/service.pid"
}

cmd_start() {
    need podman podman
    need runc runc
    need unshare util-linux
    need curl curl
    [[ $(id -u) == 0 ]] || die "needs root (a rootful podman service)"
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tailcast-engine.XXXXXX")
    write_config "$dir"
    use_dir "$dir"
    if ! build_image "$dir" >>"$dir/service.log" 2>&1; then
        tail -n 20 "$dir/service.log" >&2 || true
        cmd_stop "$dir/docker.sock" || true
        die "could not build $IMAGE"
    fi
    if ! start_service "$dir"; then
        cmd_stop "$dir/docker.sock" || true
        exit 1
    fi
    printf '%s\n' "$dir/docker.sock"
}

cmd_kill() {
    local dir
    dir=$(dir_of "$1")
    kill_service "$dir" KILL
}

cmd_revive() {
    local dir
    dir=$(dir_of "$1")
    use_dir "$dir"
    kill_service "$dir" KILL
    start_service "$dir"
}

cmd_podman() {
    local dir
    dir=$(dir_of "$1")
    shift
    use_dir "$dir"
    exec podman "$@"
}

cmd_stop() {
    local dir
    dir=$(dir_of "$1")
    use_dir "$dir"
    podman rm -a -f -t 0 >/dev/null 2>&1 || true
    kill_service "$dir" TERM
    # Anything still mounted under the folder (overlay layers, shm): deepest first.
    local mounts
    mounts=$(awk -v d="$dir" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
    for m in $mounts; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$dir"
}

case ${1:-} in
start) cmd_start ;;
kill) cmd_kill "${2:?socket path}" ;;
revive) cmd_revive "${2:?socket path}" ;;
podman) shift && cmd_podman "${1:?socket path}" "${@:2}" ;;
stop) cmd_stop "${2:?socket path}" ;;
*)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
