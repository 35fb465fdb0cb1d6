# Shared by scripts/test and scripts/bench: Prefect virtualenvs and servers on free loopback ports.
# Source it from a script that has `set -euo pipefail`; it installs an EXIT trap that stops every
# server it started (by process group id) and removes its scratch directory.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venvs=${UNSTUCK_VENVS:-$root/.venvs}
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/unstuck.XXXXXX")
pids=()

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

cleanup() {
  local pid i alive
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for i in $(seq 1 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ensure_venv NAME REQUIREMENTS: a virtualenv in $venvs/NAME, rebuilt when the requirements change.
ensure_venv() {
  local name=$1 req=$2 dir stamp want
  dir=$venvs/$name
  stamp=$dir/.requirements.sha256
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [[ -x $dir/bin/python && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  log "creating $dir from $req (about a minute)"
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
}

# ensure_venvs: both Prefect versions, in parallel.
ensure_venvs() {
  local p3 p2 moto
  mkdir -p "$venvs"
  ensure_venv prefect3 "$root/tests/python/prefect3.txt" &
  p3=$!
  ensure_venv prefect2 "$root/tests/python/prefect2.txt" &
  p2=$!
  ensure_venv moto "$root/tests/python/moto.txt" &
  moto=$!
  wait "$p3" || { log "installing Prefect 3 failed"; exit 1; }
  wait "$p2" || { log "installing Prefect 2 failed"; exit 1; }
  wait "$moto" || { log "installing moto failed"; exit 1; }
}

# wait_until WHAT PID LOG SECONDS CMD...: polls CMD until it succeeds; when PID dies or SECONDS pass
# first, prints the end of LOG and exits.
wait_until() {
  local what=$1 pid=$2 logfile=$3 deadline=$((SECONDS + $4))
  shift 4
  until "$@" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || (( SECONDS > deadline )); then
      log "$what did not come up; its log:"
      tail -n 40 "$logfile" >&2
      exit 1
    fi
    sleep 0.5
  done
}

# start_moto: moto's AWS server (ECS, CloudWatch Logs) on a free loopback port; sets url_moto.
start_moto() {
  local port home=$work/moto
  port=$(free_port)
  mkdir -p "$home"
  setsid "$venvs/moto/bin/moto_server" -H 127.0.0.1 -p "$port" > "$home/server.log" 2>&1 < /dev/null &
  pids+=("$!")
  disown "$!"
  url_moto="http://127.0.0.1:$port"
  wait_until "moto at $url_moto" "${pids[-1]}" "$home/server.log" 60 \
    "$python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/moto-api/', timeout=2)" "$url_moto"
  log "moto ready at $url_moto"
}

# ensure_debian CMD PACKAGE: installs Debian's PACKAGE when CMD (a path or a name on PATH) is missing.
# PostgreSQL's server binaries live under /usr/lib/postgresql/<version>/bin, off the PATH.
ensure_debian() {
  local cmd=$1 package=$2
  if [[ -x $cmd ]] || command -v "$cmd" > /dev/null 2>&1; then
    return 0
  fi
  log "installing Debian's $package (for $cmd)"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" > "$work/apt-$package.log" 2>&1 \
      || { apt-get update -qq > /dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" > "$work/apt-$package.log" 2>&1; }; }; then
    log "installing $package failed; its log:"
    tail -n 20 "$work/apt-$package.log" >&2
    exit 1
  fi
}

# pg_bindir: the newest PostgreSQL server's binaries (Debian keeps them off the PATH, one directory
# per major version), or the directory of a `postgres` on the PATH; empty when there is none.
pg_bindir() {
  local dirs=(/usr/lib/postgresql/*/bin/postgres) cmd
  if [[ -x ${dirs[0]} ]]; then
    printf '%s\n' "${dirs[@]%/postgres}" | sort -V | tail -n 1
  elif cmd=$(command -v postgres); then
    dirname "$cmd"
  fi
}

# start_postgres: a PostgreSQL server of its own (Debian's, installed when missing): data in $work/pg,
# listening on a free loopback port and a socket directory in $work/pg only, password auth over TCP,
# durability off (a test database); creates the database `prefect` and sets pg_url in the form
# Prefect's PREFECT_API_DATABASE_CONNECTION_URL takes. initdb and postgres refuse to run as root: as
# root they run as Debian's `postgres` user (or nobody), which needs to traverse $work.
start_postgres() {
  local bin dir=$work/pg port password user as=()
  bin=$(pg_bindir)
  if [[ -z $bin ]]; then
    ensure_debian /usr/lib/postgresql/15/bin/postgres postgresql
    bin=$(pg_bindir)
  fi
  port=$(free_port)
  password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  mkdir -p "$dir/sock"
  (umask 077 && printf '%s\n' "$password" > "$dir/password")
  if (( EUID == 0 )); then
    user=postgres
    id -u "$user" > /dev/null 2>&1 || user=nobody
    chmod 711 "$work"
    chown -R "$user" "$dir"
    as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --)
  fi
  if ! "${as[@]}" "$bin/initdb" -D "$dir/data" -U unstuck --pwfile="$dir/password" --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync > "$dir/initdb.log" 2>&1; then
    log "initdb failed; its log:"
    tail -n 20 "$dir/initdb.log" >&2
    exit 1
  fi
  rm -f "$dir/password"
  setsid "${as[@]}" "$bin/postgres" -D "$dir/data" -p "$port" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$dir/sock" -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    > "$dir/server.log" 2>&1 < /dev/null &
  pids+=("$!")
  disown "$!"
  wait_until "PostgreSQL on port $port" "${pids[-1]}" "$dir/server.log" 60 "$bin/pg_isready" -q -h "$dir/sock" -p "$port"
  "$bin/createdb" -h "$dir/sock" -p "$port" -U unstuck prefect
  pg_url="postgresql+asyncpg://unstuck:$password@127.0.0.1:$port/prefect"
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$port"
}

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME VENV [VAR=VALUE...]: starts a server in its own session; sets url_NAME and pid_NAME.
start_server() {
  local name=$1 venv=$2 port home
  shift 2
  port=$(free_port)
  home=$work/$name
  mkdir -p "$home"
  env -u PREFECT_API_URL -u PREFECT_API_KEY -u PREFECT_API_AUTH_STRING -u PREFECT_PROFILE \
    PREFECT_HOME="$home" PREFECT_SERVER_ANALYTICS_ENABLED=false PREFECT_UI_ENABLED=false "$@" \
    setsid "$venvs/$venv/bin/prefect" server start --host 127.0.0.1 --port "$port" \
    > "$home/server.log" 2>&1 < /dev/null &
  pids+=("$!")
  disown "$!"
  printf -v "url_$name" 'http://127.0.0.1:%s/api' "$port"
  printf -v "pid_$name" '%s' "$!"
}

# wait_healthy NAME: waits for the server's /health, or prints its log and exits.
wait_healthy() {
  local name=$1 url pid
  url=url_$name
  url=${!url}
  pid=pid_$name
  pid=${!pid}
  wait_until "server $name at $url" "$pid" "$work/$name/server.log" 180 \
    "$python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/health', timeout=2)" "$url"
  log "server $name ready at $url"
}

# start_all_servers: the virtualenvs and every server the tests use, waited for in parallel:
#   p3        Prefect 3, deployment concurrency leases of 30 s (the minimum; default 300 s),
#   p2        Prefect 2,
#   p3secure  Prefect 3 with basic auth and CSRF protection,
#   p2csrf    Prefect 2 with CSRF protection,
#   p3small   Prefect 3 whose page limit is 10 (PREFECT_SERVER_API_DEFAULT_LIMIT): paging and 422s,
#   p3pg      Prefect 3 on PostgreSQL (what production servers run): paging and scale,
#   moto      moto's AWS server for the ECS backend (ECS and CloudWatch Logs).
start_all_servers() {
  ensure_venvs
  auth_string="admin:$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  start_server p3 prefect3 PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_LEASE_DURATION=30
  start_server p2 prefect2
  start_server p3secure prefect3 PREFECT_SERVER_API_AUTH_STRING="$auth_string" PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED=true
  start_server p2csrf prefect2 PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true
  start_server p3small prefect3 PREFECT_SERVER_API_DEFAULT_LIMIT=10
  start_postgres
  start_server p3pg prefect3 PREFECT_API_DATABASE_CONNECTION_URL="$pg_url"
  start_moto
  ensure_debian prometheus prometheus
  for s in p3 p2 p3secure p2csrf p3small p3pg; do wait_healthy "$s"; done
}

# print_server_env: the variables the test harness reads, one KEY=VALUE a line.
print_server_env() {
  echo "UNSTUCK_TEST_P3_URL=$url_p3"
  echo "UNSTUCK_TEST_P2_URL=$url_p2"
  echo "UNSTUCK_TEST_P3_SECURE_URL=$url_p3secure"
  echo "UNSTUCK_TEST_P3_SECURE_AUTH=$auth_string"
  echo "UNSTUCK_TEST_P2_CSRF_URL=$url_p2csrf"
  echo "UNSTUCK_TEST_P3_SMALL_URL=$url_p3small"
  echo "UNSTUCK_TEST_P3_PG_URL=$url_p3pg"
  echo "UNSTUCK_TEST_P3_VENV=$venvs/prefect3"
  echo "UNSTUCK_TEST_P2_VENV=$venvs/prefect2"
  echo "UNSTUCK_TEST_MOTO_URL=$url_moto"
  echo "UNSTUCK_TEST_MOTO_VENV=$venvs/moto"
  echo "UNSTUCK_TEST_PROMETHEUS=$(command -v prometheus)"
}
