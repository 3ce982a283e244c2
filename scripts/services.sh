#!/usr/bin/env bash
# Real protocol peers for the integration tests, on 127.0.0.1:
#   kafka  tansu 0.6.0 (a Kafka-protocol broker; cargo install, once per machine)  :9092
#   aws    moto server (S3, Glue, Athena APIs; in a virtualenv under target/)       :5000
#   s3s    s3s-fs 0.14.1 (an S3 server that checks SigV4 and checksums)             :5001
#   and Debian's chromium + chromium-driver for the dashboard's browser test (installed
#   only; each test starts its own chromedriver)
#
#   scripts/services.sh install   install what is missing (reuses what is there); as root,
#                                 the Debian packages too (else it names them and stops)
#   scripts/services.sh start     start all three, wait until each accepts connections
#   scripts/services.sh stop      stop them
#   scripts/services.sh env       print the environment the tests read (eval "$(...)")
#
# State and logs live in target/services/; s3s-fs keeps its objects in memory, as tansu and
# moto keep theirs (see s3s_data), so stopping the services forgets what they held. Tests
# find the services through
# RUNNER_TEST_KAFKA, RUNNER_TEST_AWS, RUNNER_TEST_S3S and RUNNER_TEST_CHROMEDRIVER.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/services
kafka_port=${RUNNER_KAFKA_PORT:-9092}
moto_port=${RUNNER_MOTO_PORT:-5000}
s3s_port=${RUNNER_S3S_PORT:-5001}

have_tansu() { command -v tansu >/dev/null 2>&1 && tansu --version 2>/dev/null | grep -q "0.6.0"; }
# moto lives in a virtualenv of its own under target/, its whole dependency set pinned in
# scripts/requirements/services.txt (5.2.5 or later: 5.2.1 answered CompleteMultipartUpload
# with the wrong XML root element), so it needs no system-wide pip (which stock Debian
# refuses) and no package of the machine can change its versions.
venv=$dir/venv
moto_version=5.2.5
have_moto() {
    [ -x "$venv/bin/moto_server" ] &&
        [ "$("$venv/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null)" = "$moto_version" ] &&
        [ "$venv/.requirements" -nt scripts/requirements/services.txt ]
}
have_s3s() { command -v s3s-fs >/dev/null 2>&1; }
have_chromium() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

# What building the services (and the runner) needs from the system, as Debian packages:
# a C toolchain and make (build-essential: librdkafka's build), pkg-config and OpenSSL's
# headers (the system's OpenSSL is linked), Python 3 with venv, Node.js with npm (the editor check)
# and Chromium with its driver (the dashboard's browser test).
system_packages() {
    local missing=()
    command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || missing+=(build-essential)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; } || missing+=(libssl-dev)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
    { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; } || missing+=(nodejs npm)
    have_chromium || missing+=(chromium chromium-driver)
    echo "${missing[@]}"
}

install_system_packages() {
    local missing
    missing=$(system_packages)
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian packages: $missing"
        # shellcheck disable=SC2086 # one word per package
        apt-get install -y -q $missing >/dev/null ||
            { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; }
    else
        echo "error: missing system packages; on Debian or Ubuntu run:" >&2
        echo "  sudo apt-get install -y $missing" >&2
        echo "(elsewhere install the same tools with the system's package manager)" >&2
        return 1
    fi
}

install() {
    install_system_packages
    if ! have_tansu; then
        echo "installing tansu 0.6.0 (about 15 minutes on 2 cores, once per machine)"
        cargo install tansu --locked --version 0.6.0 --features dynostore
    fi
    if ! have_moto; then
        echo "installing moto server $moto_version into $venv"
        mkdir -p "$dir"
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r scripts/requirements/services.txt
        touch "$venv/.requirements"
    fi
    if ! have_s3s; then
        echo "installing s3s-fs 0.14.1 (about 7 minutes on 2 cores, once per machine)"
        cargo install s3s-fs --version 0.14.1 --locked --features binary
    fi
}

wait_port() {
    local name=$1 port=$2 pid=$3
    for _ in $(seq 1 120); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$name listening on 127.0.0.1:$port (pid $pid)"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "error: $name exited; its log:" >&2
            tail -20 "$dir/$name.log" >&2
            return 1
        fi
        sleep 0.5
    done
    echo "error: $name did not listen on port $port within 60 s" >&2
    return 1
}

start_one() {
    local name=$1 port=$2
    shift 2
    if [ -f "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
        echo "$name already running (pid $(cat "$dir/$name.pid"))"
        return 0
    fi
    # A port another process holds would make the new server exit while the old one
    # answers in its place.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "error: $name: port $port is in use by another process; stop that process first" >&2
        return 1
    fi
    "$@" >"$dir/$name.log" 2>&1 &
    echo $! >"$dir/$name.pid"
    wait_port "$name" "$port" "$!"
}

# Where s3s-fs keeps its objects, target/services/s3s-data: a link to a folder in memory
# (/dev/shm) where the machine has one with room (a GiB: the tests leave about 8 MB, the
# streaming benchmark writes 91 MB a run), as tansu and moto keep their data in memory. On
# disk, writing the objects and the kernel's writeback of them take the same two cores the
# runner's tests and benchmarks run on, which a real S3 does not (measured: deliver's 200,000
# records took about 0.07 s longer). A plain folder otherwise.
s3s_data() {
    if [ -e "$dir/s3s-data" ]; then
        return 0
    fi
    mkdir -p "$dir"
    local room_kb
    room_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
    if [ -w /dev/shm ] && [ "${room_kb:-0}" -ge 1048576 ]; then
        ln -s "$(mktemp -d /dev/shm/runner-s3s.XXXXXX)" "$dir/s3s-data"
    else
        mkdir -p "$dir/s3s-data"
    fi
}

start() {
    install
    s3s_data
    start_one kafka "$kafka_port" tansu broker \
        --listener-url "tcp://127.0.0.1:$kafka_port" \
        --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
        --storage-engine memory://tansu/
    start_one aws "$moto_port" "$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port"
    start_one s3s "$s3s_port" s3s-fs --host 127.0.0.1 --port "$s3s_port" \
        --access-key test --secret-key test "$dir/s3s-data"
}

stop() {
    for name in kafka aws s3s; do
        if [ -f "$dir/$name.pid" ]; then
            local pid
            pid=$(cat "$dir/$name.pid")
            kill "$pid" 2>/dev/null || true
            # Gone (or a zombie) before its port is taken again; SIGKILL after 10 s.
            local state=""
            for _ in $(seq 1 100); do
                state=$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)
                { [ -z "$state" ] || [ "$state" = Z ]; } && break
                sleep 0.1
            done
            if [ -n "$state" ] && [ "$state" != Z ]; then
                kill -9 "$pid" 2>/dev/null || true
            fi
            rm -f "$dir/$name.pid"
        fi
    done
    # The objects in memory go with the server, as tansu's and moto's do.
    if [ -L "$dir/s3s-data" ]; then
        rm -rf "$(readlink "$dir/s3s-data")"
        rm -f "$dir/s3s-data"
    fi
}

env_vars() {
    echo "export RUNNER_TEST_KAFKA=127.0.0.1:$kafka_port"
    echo "export RUNNER_TEST_AWS=http://127.0.0.1:$moto_port"
    echo "export RUNNER_TEST_S3S=http://127.0.0.1:$s3s_port"
    if have_chromium; then
        echo "export RUNNER_TEST_CHROMEDRIVER=$(command -v chromedriver)"
    fi
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    env) env_vars ;;
    *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
