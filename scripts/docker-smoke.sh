#!/usr/bin/env bash
# Build the Gateflow image and check it end to end, on a machine that may have no Docker engine and
# no registry access:
#   1. Docker: installs docker.io if missing, starts dockerd if none answers (left running; STOP_DOCKERD=1
#      stops a daemon this script started).
#   2. The base image the Dockerfile's FROM names: pulled, or else made with scripts/docker-base-image.sh
#      (debootstrap + docker import).
#   3. Builds with BuildKit. The host's CA bundle goes in as a build secret, a local wheel directory as a
#      throwaway "wheels" image that only the builder stage mounts: neither ends up in the image.
#   4. Runs it on a free port of 127.0.0.1, waits for Docker's health status, fetches /healthz, the page and
#      everything the page links to, opens /ws, sends a configure and waits for "ready" and the bulk block,
#      checks the container runs as non-root with no build leftovers, then stops and removes it.
#   5. Classroom rooms across processes: builds docker/redis.Dockerfile on the same base image, runs it
#      and the image with GATEFLOW_PROCESSES=3 on one Docker network (docs/docker.md), and checks that a
#      room made through one process is found, joined and followed through all of them.
# Prints build time, image size and start-to-healthy time. Not part of `make test` (minutes).
#
# Environment (all optional):
#   IMAGE=gateflow:smoke      tag to build          NO_CACHE=1      build without the layer cache
#   WHEELS_DIR=/opt/wheels    local wheels for pip (torch); skipped if absent or empty
#   CACERT=/etc/ssl/certs/ca-certificates.crt       CA bundle for pip inside the build (secret)
#   TORCH_SPEC, TORCH_INDEX_URL, SLIM_TORCH         passed to the build; with a torch wheel in WHEELS_DIR the
#                                                   default is exactly that wheel's version and no extra index
#   HEALTH_TIMEOUT=180        seconds to wait for "healthy"
#   STOP_DOCKERD=0            1: stop the daemon at the end if this script started it
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

IMAGE="${IMAGE:-gateflow:smoke}"
WHEELS_DIR="${WHEELS_DIR:-/opt/wheels}"
WHEELS_IMAGE="gateflow-wheels:local"
CACERT="${CACERT:-/etc/ssl/certs/ca-certificates.crt}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-180}"
STOP_DOCKERD="${STOP_DOCKERD:-0}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/gateflow-dockerd.log}"
CONTAINER="gateflow-smoke-$$"
REDIS_IMAGE="${REDIS_IMAGE:-gateflow-redis:smoke}"
CLASS="gateflow-class-$$"        # the classroom check's containers and network
REDIS="gateflow-redis-$$"
NETWORK="gateflow-net-$$"
WORK="$(mktemp -d /tmp/gateflow-smoke.XXXXXX)"
STARTED_DOCKERD_PID=""

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

cleanup() {
    local rc=$?
    if docker container inspect "$CONTAINER" >/dev/null 2>&1; then
        if [ "$rc" != 0 ]; then
            echo "--- container logs (last 40 lines)" >&2
            docker logs --tail 40 "$CONTAINER" >&2 2>&1 || true
        fi
        docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    fi
    for c in "$CLASS" "$REDIS"; do
        if docker container inspect "$c" >/dev/null 2>&1; then
            [ "$rc" = 0 ] || { echo "--- $c logs (last 40 lines)" >&2; docker logs --tail 40 "$c" >&2 2>&1 || true; }
            docker rm -f "$c" >/dev/null 2>&1 || true
        fi
    done
    docker network rm "$NETWORK" >/dev/null 2>&1 || true
    if [ -n "$STARTED_DOCKERD_PID" ] && [ "$STOP_DOCKERD" = 1 ]; then
        echo "stopping the dockerd this script started (pid $STARTED_DOCKERD_PID)" >&2
        as_root kill "$STARTED_DOCKERD_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. Docker engine -------------------------------------------------------------------------------
log "docker engine"
t0=$(now)
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    echo "installing docker.io" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
    echo "no daemon answers: starting dockerd (log: $DOCKERD_LOG)" >&2
    as_root sh -c "setsid nohup dockerd >>'$DOCKERD_LOG' 2>&1 </dev/null & echo \$! >'$WORK/dockerd.pid'"
    STARTED_DOCKERD_PID="$(cat "$WORK/dockerd.pid")"
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { tail -20 "$DOCKERD_LOG" >&2; die "dockerd did not come up"; }
    echo "dockerd pid $STARTED_DOCKERD_PID" >&2
fi
ENGINE_SECS=$(secs "$t0" "$(now)")
echo "server $(docker version -f '{{.Server.Version}}'), ready in ${ENGINE_SECS}s" >&2

# A client that builds with BuildKit: buildx if present; else a pre-23 client, whose built-in BuildKit
# does what this Dockerfile needs (RUN --mount, --secret). Docker 23+ without buildx cannot.
BUILD=()
if docker buildx version >/dev/null 2>&1; then
    BUILD=(docker buildx build --load)
else
    for c in docker /usr/bin/docker /usr/local/bin/docker; do
        command -v "$c" >/dev/null || continue
        if DOCKER_BUILDKIT=1 "$c" build --help 2>/dev/null | grep -q -- '--secret'; then
            BUILD=(env DOCKER_BUILDKIT=1 "$(command -v "$c")" build)
            break
        fi
    done
fi
[ ${#BUILD[@]} -gt 0 ] || die "no docker client with BuildKit (install docker-buildx, or docker.io's own client)"
echo "build client: ${BUILD[*]}" >&2

# ---- 2. base image ----------------------------------------------------------------------------------
BASE_IMAGE="${BASE_IMAGE:-$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile | head -1)}"
log "base image $BASE_IMAGE"
t0=$(now)
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    if ! timeout 300 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
        echo "cannot pull $BASE_IMAGE: making it with debootstrap" >&2
        DOCKER=docker bash scripts/docker-base-image.sh "$BASE_IMAGE"
    fi
fi
BASE_SECS=$(secs "$t0" "$(now)")
echo "ready in ${BASE_SECS}s" >&2

# ---- 3. build ---------------------------------------------------------------------------------------
log "build $IMAGE"
ARGS=()
[ -n "${TORCH_SPEC:-}" ] && ARGS+=(--build-arg "TORCH_SPEC=$TORCH_SPEC")
[ -n "${TORCH_INDEX_URL+x}" ] && ARGS+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
[ -n "${SLIM_TORCH:-}" ] && ARGS+=(--build-arg "SLIM_TORCH=$SLIM_TORCH")
[ "$BASE_IMAGE" != "$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile | head -1)" ] &&
    ARGS+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
if [ -d "$WHEELS_DIR" ] && compgen -G "$WHEELS_DIR/*.whl" >/dev/null; then
    # The wheels as an image, re-made only when the directory's listing changes.
    stamp="$(find "$WHEELS_DIR" -maxdepth 1 -name '*.whl' -printf '%f %s %T@\n' | sort | sha256sum | cut -c1-16)"
    if [ "$(docker image inspect -f '{{index .Config.Labels "gateflow.wheels"}}' "$WHEELS_IMAGE" 2>/dev/null)" != "$stamp" ]; then
        echo "importing $WHEELS_DIR as $WHEELS_IMAGE" >&2
        tar -C "$WHEELS_DIR" -c --exclude='*.tmp' . |
            docker import --change "LABEL gateflow.wheels=$stamp" - "$WHEELS_IMAGE" >/dev/null
    fi
    ARGS+=(--build-arg "WHEELS_IMAGE=$WHEELS_IMAGE")
    torch_whl="$(find "$WHEELS_DIR" -maxdepth 1 -name 'torch-*.whl' -printf '%f\n' | sort -V | tail -1)"
    if [ -n "$torch_whl" ] && [ -z "${TORCH_SPEC:-}" ] && [ -z "${TORCH_INDEX_URL+x}" ]; then
        torch_version="$(echo "$torch_whl" | cut -d- -f2)"
        echo "torch from $WHEELS_DIR/$torch_whl" >&2
        ARGS+=(--build-arg "TORCH_SPEC=torch==$torch_version" --build-arg "TORCH_INDEX_URL=")
    fi
fi
[ -f "$CACERT" ] && ARGS+=(--secret "id=cacert,src=$CACERT")
[ "${NO_CACHE:-0}" = 1 ] && ARGS+=(--no-cache)
echo "${BUILD[*]} -t $IMAGE ${ARGS[*]} ." >&2
t0=$(now)
if ! "${BUILD[@]}" --progress=plain -t "$IMAGE" "${ARGS[@]}" . >"$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log" >&2
    die "build failed"
fi
BUILD_SECS=$(secs "$t0" "$(now)")
grep -E '^#[0-9]+ [0-9.]+ torch [0-9]' "$WORK/build.log" | tail -1 | sed 's/^#[0-9]* [0-9.]* /built with /' >&2 || true
IMAGE_BYTES=$(docker image inspect -f '{{.Size}}' "$IMAGE")
IMAGE_MB=$(awk -v b="$IMAGE_BYTES" 'BEGIN { printf "%.0f", b / 1e6 }')
echo "built in ${BUILD_SECS}s; image ${IMAGE_MB} MB" >&2

# ---- 4. run and check -------------------------------------------------------------------------------
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log "run $IMAGE as $CONTAINER on 127.0.0.1:$PORT"
t_start=$(now)
docker run -d --name "$CONTAINER" -p "127.0.0.1:$PORT:8000" "$IMAGE" >/dev/null

# Until Docker says container $1 (port $2 on the host) is healthy; t_answer: when /healthz first answered.
wait_healthy() {
    local name="$1" port="$2" state status deadline=$(( $(date +%s) + HEALTH_TIMEOUT ))
    t_answer=""
    while :; do
        state="$(docker inspect -f '{{.State.Status}}' "$name")"
        [ "$state" = running ] || die "container $name is $state"
        if [ -z "$t_answer" ] && python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/healthz', timeout=2)" 2>/dev/null; then
            t_answer=$(now)
        fi
        status="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$name")"
        [ "$status" = healthy ] && break
        [ "$status" = unhealthy ] && die "container $name is unhealthy"
        [ "$(date +%s)" -lt "$deadline" ] || die "$name not healthy after ${HEALTH_TIMEOUT}s (health: ${status:-none})"
        sleep 0.25
    done
}
wait_healthy "$CONTAINER" "$PORT"
t_healthy=$(now)
ANSWER_SECS=$(secs "$t_start" "${t_answer:-$t_healthy}")
HEALTHY_SECS=$(secs "$t_start" "$t_healthy")
echo "answers /healthz after ${ANSWER_SECS}s, healthy after ${HEALTHY_SECS}s" >&2

log "HTTP: /healthz, the page and what it links to"
python3 - "$PORT" <<'PY'
import json, re, sys, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"
def get(path):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return r.status, r.headers.get("content-type", ""), r.read()

status, ctype, body = get("/healthz")
health = json.loads(body)
assert status == 200 and health.get("status") == "ok", (status, health)
print("/healthz", json.dumps(health))

status, ctype, body = get("/")
page = body.decode()
assert status == 200 and ctype.startswith("text/html"), (status, ctype)
assert "<html" in page.lower() and "Gateflow" in page, page[:300]
print(f"/ {len(body)} bytes of HTML")
links = sorted({m for m in re.findall(r'(?:src|href)="(/[^"/][^"]*)"', page)})
assert links, "the page links to nothing local"
for link in links:
    status, ctype, body = get(link)
    assert status == 200 and body, (link, status)
    print(f"{link} {status} {len(body)} bytes {ctype.split(';')[0]}")
PY

log "WebSocket /ws: configure -> progress -> ready -> bulk"
cat >"$WORK/ws_client.py" <<'PY'
import asyncio, json, sys, time

import websockets


async def main(url):
    config = {"cells": ["rnn_tanh", "lstm"], "hidden_size": 16, "seq_len": 20, "task": "adding"}
    t0 = time.monotonic()
    async with websockets.connect(url, max_size=None, open_timeout=20) as ws:
        await ws.send(json.dumps({"type": "configure", "config": config}))
        seen, ready, bulk = [], None, None
        async with asyncio.timeout(120):
            while bulk is None:
                msg = await ws.recv()
                if isinstance(msg, bytes):
                    if ready is not None:
                        bulk = msg
                    continue
                data = json.loads(msg)
                seen.append(data.get("type"))
                if data.get("type") == "error":
                    raise SystemExit(f"server error: {data}")
                if data.get("type") == "ready":
                    ready = data
    ms = 1000 * (time.monotonic() - t0)
    cells = [c.get("cell") for c in ready.get("cells", [])]
    print(f"text messages: {seen}; then a {len(bulk)}-byte binary message")
    print(f"ready: T={ready.get('T')} cells={cells} compute_ms={ready.get('compute_ms')}, round trip {ms:.0f} ms")
    assert "progress" in seen and cells == config["cells"], (seen, cells)


asyncio.run(main(sys.argv[1]))
PY
WS_PY=""
for py in "$ROOT/.venv/bin/python" python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import sys, websockets; assert sys.version_info >= (3, 11)' 2>/dev/null; then
        WS_PY="$py"; break
    fi
done
if [ -n "$WS_PY" ]; then
    echo "client: $WS_PY on the host, through the published port" >&2
    "$WS_PY" "$WORK/ws_client.py" "ws://127.0.0.1:$PORT/ws"
else
    echo "client: python in the container (no websockets on the host)" >&2
    docker exec -i "$CONTAINER" python3 - "ws://127.0.0.1:8000/ws" <"$WORK/ws_client.py"
fi

log "the container: user, leftovers"
docker exec "$CONTAINER" sh -c '
    set -e
    echo "uid $(id -u) ($(id -un)), python $(python3 -V 2>&1 | cut -d" " -f2), torch $(python3 -c "import torch; print(torch.__version__)")"
    [ "$(id -u)" != 0 ] || { echo "runs as root"; exit 1; }
    for p in /run/secrets/cacert /wheels /root/.cache/pip /home/gateflow/.cache/pip; do
        [ ! -e "$p" ] || { echo "left in the image: $p"; exit 1; }
    done
    ! command -v pip >/dev/null || { echo "pip is in the image"; exit 1; }
    ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || { echo "apt lists are in the image"; exit 1; }
    echo "non-root, no CA bundle, wheels, pip or apt lists in the image"
'
docker history --no-trunc "$IMAGE" >"$WORK/history.txt"
if grep -q 'BEGIN CERTIFICATE' "$WORK/history.txt"; then die "a certificate is in the image history"; fi

log "classroom rooms: 3 processes and a Redis container on one network"
"${BUILD[@]}" --progress=plain -t "$REDIS_IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    -f docker/redis.Dockerfile docker >"$WORK/redis-build.log" 2>&1 || { tail -20 "$WORK/redis-build.log" >&2; die "redis image build failed"; }
echo "built $REDIS_IMAGE ($(docker image inspect -f '{{.Size}}' "$REDIS_IMAGE" | awk '{ printf "%.0f", $1 / 1e6 }') MB)" >&2
docker network create "$NETWORK" >/dev/null
docker run -d --name "$REDIS" --network "$NETWORK" "$REDIS_IMAGE" >/dev/null
CLASS_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
docker run -d --name "$CLASS" --network "$NETWORK" -p "127.0.0.1:$CLASS_PORT:8000" \
    -e GATEFLOW_PROCESSES=3 -e "GATEFLOW_BROKER_URL=redis://$REDIS:6379/0" "$IMAGE" >/dev/null
wait_healthy "$CLASS" "$CLASS_PORT"
WORKERS_SEEN="$(docker top "$CLASS" -o pid,args | grep -c 'multiprocessing' || true)"
echo "multiprocessing children of uvicorn: $WORKERS_SEEN (3 workers expected among them)" >&2
[ "$WORKERS_SEEN" -ge 3 ] || die "expected 3 worker processes, found $WORKERS_SEEN"
cat >"$WORK/room_client.py" <<'PY'
import asyncio, json, sys, urllib.request

import websockets

base = f"127.0.0.1:{sys.argv[1]}"


def http(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{base}{path}", data, {"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


async def until(ws, kind):
    async with asyncio.timeout(60):
        while True:
            message = await ws.recv()
            if isinstance(message, str) and json.loads(message)["type"] == kind:
                return json.loads(message)


async def main():
    status, room = http("POST", "/api/rooms", {"cells": ["gru"], "seq_len": 12, "hidden_size": 4})
    assert status == 201, status
    code, token = room["room"], room["teacher_token"]
    # each request is a new connection, which any of the processes may take: every one finds the room
    for _ in range(30):
        assert http("GET", f"/api/rooms/{code}")[1]["room"] == code
    url = f"ws://{base}/ws?room={code}"
    async with websockets.connect(f"{url}&token={token}", max_size=None) as teacher:
        await until(teacher, "room_status")
        students = [await websockets.connect(url, max_size=None) for _ in range(8)]
        try:
            for s in students:
                await until(s, "room")
            config = {"cells": ["lstm"], "seq_len": 20, "hidden_size": 3}
            await teacher.send(json.dumps({"type": "configure", "config": config}))
            run_id = (await until(teacher, "ready"))["run_id"]
            for s in students:
                assert (await until(s, "ready"))["run_id"] == run_id
            await teacher.send(json.dumps({"type": "room_view", "t": 5, "view": {"unit": 1}}))
            for s in students:
                while (state := await until(s, "room"))["t"] != 5:
                    pass
                assert state["run_id"] == run_id
            async with asyncio.timeout(20):  # the count over every process, as any one of them says it
                while http("GET", f"/api/rooms/{code}")[1]["followers"] != len(students):
                    await asyncio.sleep(0.2)
        finally:
            for s in students:
                await s.close()
    print(f"room {code}: found by 30 requests, 8 students followed the teacher's run and cursor, "
          "all 8 counted")


asyncio.run(main())
PY
if [ -n "$WS_PY" ]; then
    "$WS_PY" "$WORK/room_client.py" "$CLASS_PORT"
else
    docker exec -i "$CLASS" python3 - 8000 <"$WORK/room_client.py"
fi
docker rm -f "$CLASS" "$REDIS" >/dev/null
docker network rm "$NETWORK" >/dev/null

log "stop"
t0=$(now)
docker stop -t 20 "$CONTAINER" >/dev/null
STOP_SECS=$(secs "$t0" "$(now)")
exit_code="$(docker inspect -f '{{.State.ExitCode}}' "$CONTAINER")"
docker rm "$CONTAINER" >/dev/null
echo "stopped in ${STOP_SECS}s (exit code $exit_code), removed" >&2

log "summary"
cat <<EOF
image:                ${IMAGE} ($(docker image inspect -f '{{.Id}}' "$IMAGE" | cut -c8-19)), base ${BASE_IMAGE}
engine ready:         ${ENGINE_SECS} s$([ -n "$STARTED_DOCKERD_PID" ] && echo " (dockerd started by this script)")
base image ready:     ${BASE_SECS} s
build time:           ${BUILD_SECS} s$([ "${NO_CACHE:-0}" = 1 ] && echo " (no cache)" || echo " (layer cache allowed; NO_CACHE=1 for a cold build)")
image size:           ${IMAGE_MB} MB
start to /healthz:    ${ANSWER_SECS} s
start to healthy:     ${HEALTHY_SECS} s (HEALTHCHECK interval $(docker image inspect -f '{{.Config.Healthcheck.Interval}}' "$IMAGE"))
stop:                 ${STOP_SECS} s
EOF
if [ -n "$STARTED_DOCKERD_PID" ] && [ "$STOP_DOCKERD" != 1 ]; then
    echo "dockerd (pid $STARTED_DOCKERD_PID) left running; STOP_DOCKERD=1 stops it at the end" >&2
fi
echo "SMOKE OK"
