#!/usr/bin/env bash
# The container image's start-up, without a container engine: reads the runtime stage of the
# Dockerfile (ENV, USER, WORKDIR, VOLUME, EXPOSE, HEALTHCHECK, STOPSIGNAL, ENTRYPOINT and CMD) and
# starts the release binary as the image would: the same command and environment, a fresh empty
# directory standing in for the volume, the image's user when this script runs as root, and the
# container's port moved to a free loopback port. Then it checks what an operator relies on: the
# HEALTHCHECK command passes before Docker would call the container unhealthy, the first start
# prints an admin key, that key works through the API as a proxy would send it, the database and
# the secret key land in the volume, and the stop signal ends the server cleanly before
# `docker stop` would kill it.
#
#   .ci/container_startup.sh path/to/release/hoverbot
set -euo pipefail
BINARY=$(realpath -e -- "${1:-}" 2>/dev/null) || BINARY=""
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source .ci/lib.sh

[[ $# -eq 1 && -f $BINARY && -x $BINARY ]] || die "usage: $0 path/to/release/hoverbot"
need python3 curl
# `docker stop` sends the stop signal, then kills the container this many seconds later.
DOCKER_STOP_TIMEOUT=10

# The runtime stage's settings, as shell assignments (every value quoted by shlex).
settings=$(
  python3 - Dockerfile <<'PY'
import json, re, shlex, sys

def seconds(duration):
    """A Go duration as Docker reads it (1m30s, 500ms) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"([0-9.]+)(h|ms|us|µs|ns|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        sys.exit(f"Dockerfile: cannot read the duration {duration!r}")
    return sum(float(n) * units[u] for n, u in parts)

def command(text):
    """An exec-form (JSON array) command; a shell-form one runs under /bin/sh -c, as Docker does."""
    text = text.strip()
    if text.startswith("["):
        return json.loads(text)
    return ["/bin/sh", "-c", text]

# Join continued lines, dropping comments (also those inside a continued instruction).
instructions, current = [], ""
for line in open(sys.argv[1], encoding="utf-8"):
    if line.lstrip().startswith("#"):
        continue
    line = line.rstrip("\n")
    if line.endswith("\\"):
        current += line[:-1] + " "
        continue
    current += line
    if current.strip():
        keyword, _, rest = current.strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    current = ""

stages = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
if not stages:
    sys.exit("Dockerfile: no FROM")
env, volumes, expose = {}, [], []
user = workdir = None
entrypoint, cmd, healthcheck, stopsignal = [], [], None, "SIGTERM"
health = {"interval": 30.0, "timeout": 30.0, "start-period": 0.0, "retries": 3}
for keyword, rest in instructions[stages[-1] + 1:]:
    if keyword == "ENV":
        words = shlex.split(rest)
        if words and "=" not in words[0]:
            env[words[0]] = rest.split(None, 1)[1] if len(words) > 1 else ""
        else:
            env.update(word.split("=", 1) for word in words)
    elif keyword == "USER":
        user = rest
    elif keyword == "WORKDIR":
        workdir = rest
    elif keyword == "VOLUME":
        volumes += json.loads(rest) if rest.startswith("[") else rest.split()
    elif keyword == "EXPOSE":
        expose += [port.split("/")[0] for port in rest.split()]
    elif keyword == "STOPSIGNAL":
        stopsignal = rest
    elif keyword == "ENTRYPOINT":
        entrypoint, cmd = command(rest), []  # a new ENTRYPOINT clears an inherited CMD
    elif keyword == "CMD":
        cmd = command(rest)
    elif keyword == "HEALTHCHECK":
        while rest.startswith("--"):
            option, _, rest = rest.partition(" ")
            name, _, value = option[2:].partition("=")
            health[name] = int(value) if name == "retries" else seconds(value)
            rest = rest.lstrip()
        kind, _, rest = rest.partition(" ")
        if kind.upper() != "CMD":
            sys.exit(f"Dockerfile: HEALTHCHECK {kind} is not a command")
        healthcheck = command(rest)

def assign(name, value):
    if isinstance(value, list):
        print(f"{name}=({' '.join(shlex.quote(str(item)) for item in value)})")
    else:
        print(f"{name}={shlex.quote(str(value))}")

assign("IMAGE_ENV", [f"{key}={value}" for key, value in env.items()])
assign("IMAGE_USER", user or "")
assign("IMAGE_WORKDIR", workdir or "/")
assign("IMAGE_VOLUMES", volumes)
assign("IMAGE_EXPOSE", expose)
assign("IMAGE_COMMAND", entrypoint + cmd)
assign("IMAGE_HEALTHCHECK", healthcheck or [])
for name in ("interval", "timeout", "start-period", "retries"):
    assign("HEALTH_" + name.upper().replace("-", "_"), health[name])
assign("IMAGE_STOPSIGNAL", stopsignal)
PY
) || die "cannot read the Dockerfile"
eval "$settings"

# ------------------------------------------------------------------------------------------------
# What the image must hold together, checked before anything runs.
[[ ${#IMAGE_VOLUMES[@]} -eq 1 ]] || die "the image should declare one VOLUME, not: ${IMAGE_VOLUMES[*]}"
VOLUME=${IMAGE_VOLUMES[0]%/}
[[ ${#IMAGE_EXPOSE[@]} -eq 1 ]] || die "the image should EXPOSE one port, not: ${IMAGE_EXPOSE[*]}"
PORT=${IMAGE_EXPOSE[0]}
[[ ${#IMAGE_HEALTHCHECK[@]} -gt 0 ]] || die "the image has no HEALTHCHECK command"
[[ ${#IMAGE_COMMAND[@]} -gt 0 && ${IMAGE_COMMAND[0]##*/} == hoverbot ]] ||
  die "the image should run hoverbot, not: ${IMAGE_COMMAND[*]}"
[[ $IMAGE_USER =~ ^([0-9]+)(:([0-9]+))?$ ]] ||
  die "the image's USER should be a numeric uid[:gid], not \`$IMAGE_USER\`"
RUN_UID=${BASH_REMATCH[1]}
RUN_GID=${BASH_REMATCH[3]:-$RUN_UID}
((RUN_UID != 0)) || die "the image runs as root"
listen="" data_dir="" trust_proxy=false
for pair in "${IMAGE_ENV[@]}"; do
  case $pair in
    HOVERBOT_LISTEN=*) listen=${pair#*=} ;;
    HOVERBOT_DATA_DIR=*) data_dir=${pair#*=} ;;
    HOVERBOT_TRUST_PROXY=true) trust_proxy=true ;;
  esac
done
[[ $listen == "0.0.0.0:$PORT" || $listen == "[::]:$PORT" ]] ||
  die "the image should listen on all addresses at the EXPOSEd port $PORT, not \`$listen\`"
[[ $data_dir == "$VOLUME" || $data_dir == "$VOLUME"/* ]] ||
  die "the image's data directory \`$data_dir\` is not in its volume $VOLUME"
probes_port="(127\\.0\\.0\\.1|localhost):$PORT([^0-9]|\$)"
[[ ${IMAGE_HEALTHCHECK[*]} =~ $probes_port ]] ||
  die "the HEALTHCHECK does not probe the server's port $PORT: ${IMAGE_HEALTHCHECK[*]}"
echo "image: user $IMAGE_USER, volume $VOLUME, port $PORT, env ${IMAGE_ENV[*]}"
echo "image: command ${IMAGE_COMMAND[*]}; health check every ${HEALTH_INTERVAL} s, start period" \
  "${HEALTH_START_PERIOD} s, ${HEALTH_RETRIES} retries: ${IMAGE_HEALTHCHECK[*]}"

# ------------------------------------------------------------------------------------------------
# The container, without one. Everything lives in a scratch directory that the image's user can
# reach: the binary (copied, as the image copies it, so that a binary under root's home works too),
# the empty volume, and the server's output.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hoverbot-container.XXXXXX")
chmod 755 "$WORK"
CONTAINER_PID=""
cleanup_container() {
  local status=$?
  if [[ -n $CONTAINER_PID ]]; then
    kill -KILL "$CONTAINER_PID" 2>/dev/null || true
    wait "$CONTAINER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  return "$status"
}
trap cleanup_container EXIT
mkdir "$WORK/bin" "$WORK/volume"
cp "$BINARY" "$WORK/bin/hoverbot"
chmod 755 "$WORK/bin/hoverbot"

# A path inside the container, on the host: the volume's paths move to the scratch volume.
host_path() {
  if [[ $1 == "$VOLUME" || $1 == "$VOLUME"/* ]]; then
    echo "$WORK/volume${1#"$VOLUME"}"
  else
    echo "$1"
  fi
}

as_user=()
if ((EUID == 0)); then
  command -v setpriv >/dev/null || die "running as root, and setpriv is missing to run as the image's user"
  chown "$RUN_UID:$RUN_GID" "$WORK/volume"
  as_user=(setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups)
  echo "running as uid $RUN_UID, gid $RUN_GID (the image's USER)"
else
  echo "running as uid $EUID: only root can take the image's user $IMAGE_USER"
fi

host_port=$(free_port)
environment=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$(host_path "$VOLUME")")
for pair in "${IMAGE_ENV[@]}"; do
  name=${pair%%=*} value=${pair#*=}
  case $name in
    # `docker run -p 127.0.0.1:<host port>:<port>`: the server cannot listen on the container's
    # address, so it listens on loopback, at the host port.
    HOVERBOT_LISTEN) value="127.0.0.1:$host_port" ;;
    *) [[ $value != /* ]] || value=$(host_path "$value") ;;
  esac
  environment+=("$name=$value")
done
command=("$WORK/bin/hoverbot" "${IMAGE_COMMAND[@]:1}")
healthcheck=()
for word in "${IMAGE_HEALTHCHECK[@]}"; do
  healthcheck+=("$(sed -E "s/(127\.0\.0\.1|localhost):$PORT([^0-9]|$)/127.0.0.1:$host_port\2/g" <<<"$word")")
done
workdir=$(host_path "$IMAGE_WORKDIR")
URL="http://127.0.0.1:$host_port"

# ------------------------------------------------------------------------------------------------
# `docker run`: the first start on an empty volume.
started=$SECONDS started_at=$EPOCHREALTIME
(cd "$workdir" && exec "${as_user[@]}" env -i "${environment[@]}" "${command[@]}") \
  >"$WORK/stdout" 2>"$WORK/stderr" &
CONTAINER_PID=$!

# Seconds since $1 (an EPOCHREALTIME), to a tenth.
since() {
  local micros=$((10#${EPOCHREALTIME/[.,]/} - 10#${1/[.,]/}))
  echo "$((micros / 1000000)).$((micros / 100000 % 10))"
}

# Whether the server process runs (a zombie is not running: it has exited, unreaped).
running() {
  local state
  state=$(awk '{ print $3 }' "/proc/$CONTAINER_PID/stat" 2>/dev/null) || return 1
  [[ $state != Z ]]
}

show_output() {
  echo "--- stdout" >&2
  tail -n 20 "$WORK/stdout" >&2
  echo "--- stderr" >&2
  tail -n 30 "$WORK/stderr" >&2
}

# Docker calls the container unhealthy after the start period and then `retries` failed probes,
# one an interval: the health check must pass before that.
deadline=$(python3 -c "import math; print(math.ceil($HEALTH_START_PERIOD + $HEALTH_INTERVAL * $HEALTH_RETRIES))")
until timeout "$HEALTH_TIMEOUT" "${healthcheck[@]}" >/dev/null 2>&1; do
  running || { show_output; die "the server exited before its health check passed"; }
  ((SECONDS - started < deadline)) ||
    { show_output; die "the health check did not pass within $deadline s: ${healthcheck[*]}"; }
  sleep 0.2
done
echo "healthy after $(since "$started_at") s (Docker would wait $deadline s): ${healthcheck[*]}"

# The key, and the commands to try with it.
admin_key=$(grep -oE 'hb_live_[A-Za-z0-9_-]+' "$WORK/stdout" | sort -u || true)
[[ $(wc -l <<<"$admin_key") -eq 1 && -n $admin_key ]] ||
  { show_output; die "the first start did not print one admin key on stdout"; }
! grep -q 'hb_live_' "$WORK/stderr" || die "the admin key reached the log (stderr)"
echo "the first start printed one admin key (hb_live_…) on stdout, none in the log"

# The API as the proxy in front sends it: over HTTPS, says X-Forwarded-Proto.
api() {
  local method=$1 path=$2 expected=$3 status
  shift 3
  status=$(curl -sS -o "$WORK/response" -w '%{http_code}' -X "$method" \
    -H "Authorization: Bearer $admin_key" "$@" "$URL$path") || die "$method $path failed"
  [[ $status == "$expected" ]] ||
    { cat "$WORK/response" >&2; echo >&2; die "$method $path answered $status, not $expected"; }
}
api POST /v1/conversations 201 -H 'X-Forwarded-Proto: https' -H 'Content-Type: application/json' \
  -d '{"channel": "web", "externalUserId": "container-check"}'
api GET /v1/conversations 200 -H 'X-Forwarded-Proto: https'
grep -q '"externalUserId":"container-check"' "$WORK/response" ||
  die "GET /v1/conversations does not list the conversation just made: $(cat "$WORK/response")"
echo "the admin key made and listed a conversation (POST 201, GET 200)"
if $trust_proxy; then
  # The image trusts a proxy: a request the proxy did not receive over HTTPS is refused.
  api GET /v1/conversations 403
  grep -q '"code":"tls_required"' "$WORK/response" || die "plain HTTP was refused, but not as tls_required"
  echo "without X-Forwarded-Proto: https, the API answered 403 tls_required (the image trusts a proxy)"
fi

for file in hoverbot.db secret.key; do
  [[ -f $(host_path "$data_dir")/$file ]] || die "$file is not in the volume ($data_dir)"
  if ((EUID == 0)); then
    [[ $(stat -c %u "$(host_path "$data_dir")/$file") == "$RUN_UID" ]] ||
      die "$file in the volume is not owned by the image's user"
  fi
done
echo "the database and the secret key are in the volume, $data_dir"

# `docker stop`: the stop signal, then SIGKILL after the timeout.
stopping=$SECONDS stopping_at=$EPOCHREALTIME
kill -s "$IMAGE_STOPSIGNAL" "$CONTAINER_PID"
while running; do
  ((SECONDS - stopping < DOCKER_STOP_TIMEOUT)) ||
    { show_output; die "the server did not exit within $DOCKER_STOP_TIMEOUT s of $IMAGE_STOPSIGNAL"; }
  sleep 0.1
done
status=0
wait "$CONTAINER_PID" || status=$?
CONTAINER_PID=""
((status == 0)) || { show_output; die "the server exited with status $status on $IMAGE_STOPSIGNAL"; }
echo "$IMAGE_STOPSIGNAL: the server exited with status 0 after $(since "$stopping_at") s"
