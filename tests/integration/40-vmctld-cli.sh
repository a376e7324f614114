#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 40-vmctld-cli: the vmctld program around its config (no broker needed:
# MQTT keeps retrying in the background).  --help, --version and
# --help-config exit 0; -n accepts a good config (and the example in
# deploy/vmctld) and refuses a bad one with exit 2 and a message naming
# the file, line and key, also for a bad environment variable; vmctld
# starts on any free port; a second vmctld on the same data directory
# (or database) fails with exit 1 and says why, and so does one on the
# port in use;
# SIGHUP with a broken file keeps the running config, with a good one
# swaps the tokens (checked over HTTP); SIGTERM and SIGINT stop it with
# exit 0.  The binary comes as $VMCTLD (tests/integration/CMakeLists.txt).
. "$(dirname "$0")/lib.sh"

vmctld=${VMCTLD:?VMCTLD: path of the vmctld binary}
d=$work/run
rm -rf "$d"
mkdir -p "$d"
# Only the VMCTLD_* variables this script sets.
unset $(env | sed -n 's/^\(VMCTLD_[A-Z_]*\)=.*/\1/p') VMCTLD_CONFIG

pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
}
trap cleanup EXIT

# expect RC DESCRIPTION CMD...: run CMD, check its exit status; output in
# $d/out and $d/err.
expect() {
    local want=$1 what=$2
    shift 2
    "$@" >"$d/out" 2>"$d/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else
        fail "$what: exit $rc, want $want; stderr: $(head -c 400 "$d/err")"
    fi
}
# has FILE TEXT DESCRIPTION: FILE contains TEXT.
has() {
    grep -qF -- "$2" "$1" && ok ||
        fail "$3: $(basename "$1") lacks '$2': $(head -c 400 "$1")"
}
# wait_for FILE TEXT SECONDS: until FILE contains TEXT; 1 on timeout.
wait_for() {
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# wait_exit PID SECONDS: until PID has exited; its status in $rc, 124 if
# it is still running.
wait_exit() {
    local end=$((SECONDS + $2))
    while [ $SECONDS -lt $end ] && kill -0 "$1" 2>/dev/null; do
        sleep 0.1
    done
    if kill -0 "$1" 2>/dev/null; then rc=124; else
        wait "$1"
        rc=$?
    fi
}

# A P-256 key pair (vmctld loads the .pub): vmctl's, else openssl's.
if [ -n "${VMCTL:-}" ]; then
    "$VMCTL" keys gen -o "$d/fleet" >/dev/null
else
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/fleet.key" &&
        openssl ec -in "$d/fleet.key" -pubout -out "$d/fleet.pub"
fi 2>"$d/err" && ok || fail "cannot make a key pair: $(cat "$d/err")"
tok_op=0123456789abcdef-operator-one
tok_new=fedcba9876543210-operator-two
printf '%s\n' "$tok_new" >"$d/new.token"
chmod 600 "$d/new.token"

# write_config FILE TOKEN_LINE: a config with data dir $d/data, any port.
write_config() {
    cat >"$1" <<EOF
{
  "mqtt": {"uri": "tcp://127.0.0.1:9"},
  "http": {"listen": "127.0.0.1:0"},
  "tokens": [$2],
  "storage": {"data_dir": "data"},
  "trust": {"keys": ["fleet.pub"]},
  "log": {"level": "info"}
}
EOF
}
cfg=$d/vmctld.json
write_config "$cfg" \
    "{\"name\": \"admin\", \"role\": \"operator\", \"token\": \"$tok_op\"}"

# ---- options ----
expect 0 "--help" "$vmctld" --help
has "$d/out" "--help-config" "--help"
expect 0 "--version" "$vmctld" --version
has "$d/out" "vmctld " "--version"
expect 0 "--help-config" "$vmctld" --help-config
has "$d/out" "VMCTLD_HTTP_MAX_BODY" "--help-config"
has "$d/out" "rollouts.chunk_size" "--help-config"
expect 2 "unknown option" "$vmctld" --frobnicate
has "$d/err" "--frobnicate" "unknown option"
expect 2 "-c without a file" "$vmctld" -c
expect 2 "a stray argument" "$vmctld" "$cfg"

# ---- -n ----
expect 0 "-n on a good config" "$vmctld" -n -c "$cfg"
has "$d/out" "config ok" "-n"
VMCTLD_CONFIG=$cfg expect 0 "-n with \$VMCTLD_CONFIG" "$vmctld" -n
has "$d/out" "config ok" "-n with \$VMCTLD_CONFIG"
sed 's/"listen": "127.0.0.1:0"}/"listen": "127.0.0.1:0", "max_body": "64k"}/' \
    "$cfg" >"$d/bad.json"
expect 2 "-n on a bad config" "$vmctld" -n -c "$d/bad.json"
has "$d/err" "bad.json:3: http.max_body: expected an integer" "-n bad config"
sed 's/"mqtt"/"mqqt"/' "$cfg" >"$d/typo.json"
expect 2 "-n on a typo" "$vmctld" -n -c "$d/typo.json"
has "$d/err" "typo.json:2: mqqt: unknown key (did you mean mqtt?)" "typo"
VMCTLD_ROLLOUTS_CHUNK_SIZE=100 expect 2 "-n with a bad variable" \
    "$vmctld" -n -c "$cfg"
has "$d/err" "VMCTLD_ROLLOUTS_CHUNK_SIZE: rollouts.chunk_size" "bad variable"
expect 2 "-n on a missing file" "$vmctld" -n -c "$d/none.json"
has "$d/err" "none.json: No such file or directory" "missing file"
[ ! -e "$d/data" ] && ok || fail "-n created the data directory"

# The example config (deploy/vmctld/vmctld.json) stays valid, given the
# files it names next to it.
ex=$d/example
mkdir -p "$ex/keys"
cp "$(dirname "$0")/../../deploy/vmctld/vmctld.json" "$ex/" && ok ||
    fail "no deploy/vmctld/vmctld.json"
cp "$d/fleet.pub" "$ex/keys/fleet.pub"
printf '%s\n' "$tok_op" >"$ex/admin.token"
printf '%s\n' "$tok_new" >"$ex/viewer.token"
VMCTLD_STORAGE_DATA_DIR=$d/exdata expect 0 "-n on the example config" \
    "$vmctld" -n -c "$ex/vmctld.json"
has "$d/out" "2 tokens, 1 trusted key" "-n on the example config"

# ---- run ----
"$vmctld" -c "$cfg" 2>"$d/log1" &
p1=$!
pids+=("$p1")
if wait_for "$d/log1" " started " 30; then ok; else
    fail "vmctld did not log its start: $(cat "$d/log1")"
fi
url=$(sed -n 's/.* api \(https\?:\/\/[^,]*\),.*/\1/p' "$d/log1" | head -1)
port=${url##*:}
[ -n "$port" ] && [ "$port" != 0 ] && ok ||
    fail "no bound port in the log: $url"
has "$d/log1" "broker tcp://127.0.0.1:9" "startup line"
has "$d/log1" "db $d/data/vmctld.db" "startup line"
[ "$(stat -c %a "$d/data")" = 700 ] && ok ||
    fail "data dir mode $(stat -c %a "$d/data"), want 700"

# A second vmctld on the same data directory.
# (timeout: a vmctld that wrongly starts must not hang the test)
expect 1 "second vmctld, same data dir" timeout 30 "$vmctld" -c "$cfg"
has "$d/err" "in use by another vmctld (pid $p1)" "second vmctld"
# One on its own data directory but the first one's database.
VMCTLD_STORAGE_DATA_DIR=$d/data3 VMCTLD_STORAGE_DB_PATH=$d/data/vmctld.db \
    expect 1 "second vmctld, same database" timeout 30 "$vmctld" -c "$cfg"
has "$d/err" "database $d/data/vmctld.db is in use by another vmctld" \
    "second vmctld, same database"
# One on another data directory but the port in use.
VMCTLD_STORAGE_DATA_DIR=$d/data2 VMCTLD_HTTP_LISTEN=127.0.0.1:$port \
    expect 1 "second vmctld, port in use" timeout 30 "$vmctld" -c "$cfg"
has "$d/err" "http.listen" "port in use"
kill -0 "$p1" 2>/dev/null && ok || fail "the first vmctld died"

# status TOKEN: the HTTP status of GET /api/v1/info with that token.
status() {
    curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" \
        "$url/api/v1/info"
}
have_curl=false
command -v curl >/dev/null && have_curl=true
if $have_curl; then
    [ "$(status "$tok_op")" = 200 ] && ok || fail "token refused before HUP"
fi

# SIGHUP with a broken file: logged, and the old config stays.
echo '{"http": {' >"$cfg"
kill -HUP "$p1"
if wait_for "$d/log1" "keeping the running config" 10; then ok; else
    fail "a broken config on HUP was not reported: $(tail -3 "$d/log1")"
fi
has "$d/log1" "vmctld.json:1: JSON syntax error" "HUP with a broken file"
if $have_curl; then
    [ "$(status "$tok_op")" = 200 ] && ok ||
        fail "old token lost after a bad HUP"
fi

# SIGHUP with a good file: the new token works, the old one no more.
write_config "$cfg" \
    "{\"name\": \"ops\", \"role\": \"operator\", \"token_file\": \"new.token\"}"
sed -i 's/"level": "info"/"level": "debug"/; s/127.0.0.1:9/127.0.0.1:10/' "$cfg"
kill -HUP "$p1"
if wait_for "$d/log1" "SIGHUP: reloaded" 10; then ok; else
    fail "HUP did not reload: $(tail -3 "$d/log1")"
fi
has "$d/log1" "log level debug" "reload"
has "$d/log1" "mqtt.uri changed; that takes a restart" "reload"
if $have_curl; then
    [ "$(status "$tok_new")" = 200 ] && ok || fail "new token refused after HUP"
    [ "$(status "$tok_op")" = 401 ] && ok ||
        fail "old token still works after HUP"
fi

# SIGTERM: a clean stop, exit 0.
kill -TERM "$p1"
wait_exit "$p1" 30
[ "$rc" -eq 0 ] && ok || fail "SIGTERM: exit $rc, want 0: $(tail -3 "$d/log1")"
has "$d/log1" "SIGTERM: stopping" "SIGTERM"
has "$d/log1" "stopped" "SIGTERM"

# The lock went with the process: a new vmctld starts, and SIGINT stops it.
"$vmctld" -c "$cfg" 2>"$d/log2" &
p2=$!
pids+=("$p2")
if wait_for "$d/log2" " started " 30; then ok; else
    fail "restart after a clean stop failed: $(cat "$d/log2")"
fi
kill -INT "$p2"
wait_exit "$p2" 30
[ "$rc" -eq 0 ] && ok || fail "SIGINT: exit $rc, want 0: $(tail -3 "$d/log2")"

# ---- HTTPS: a certificate in the config turns TLS on ----
# A self-signed certificate for 127.0.0.1; clients trust it as their CA.
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -keyout "$d/tls.key" -out "$d/tls.crt" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    >"$d/err" 2>&1; then ok; else
    fail "openssl could not make a certificate: $(cat "$d/err")"
fi
VMCTLD_STORAGE_DATA_DIR=$d/data-tls VMCTLD_HTTP_CERT_FILE=$d/tls.crt \
    VMCTLD_HTTP_KEY_FILE=$d/tls.key "$vmctld" -c "$cfg" 2>"$d/log3" &
p3=$!
pids+=("$p3")
if wait_for "$d/log3" " started " 30; then ok; else
    fail "vmctld with TLS did not start: $(cat "$d/log3")"
fi
turl=$(sed -n 's/.* api \(https\?:\/\/[^,]*\),.*/\1/p' "$d/log3" | head -1)
case $turl in https://*) ok ;; *) fail "TLS: the API URL is '$turl'" ;; esac
if $have_curl; then
    [ "$(curl -s --cacert "$d/tls.crt" "$turl/healthz")" = '{"ok":true}' ] &&
        ok || fail "TLS: GET /healthz over https failed"
    [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$d/tls.crt" \
        -H "Authorization: Bearer $tok_new" "$turl/api/v1/info")" = 200 ] &&
        ok || fail "TLS: GET /api/v1/info with the token"
    # Plain HTTP on the TLS port gets no HTTP answer; an untrusted
    # certificate is refused by the client.
    curl -s -m 5 -o /dev/null "http://${turl#https://}/healthz" &&
        fail "TLS: plain http answered" || ok
    curl -s -m 5 -o /dev/null "$turl/healthz" &&
        fail "TLS: a client without the CA accepted the certificate" || ok
fi
if [ -n "${VMCTL:-}" ]; then
    expect 0 "vmctl --cacert info over https" "$VMCTL" --server "$turl" \
        --token "$tok_new" --cacert "$d/tls.crt" info
    expect 1 "vmctl without the CA" "$VMCTL" --server "$turl" \
        --token "$tok_new" info
    has "$d/err" "certificate" "vmctl without the CA says why"
fi
kill -TERM "$p3"
wait_exit "$p3" 30
[ "$rc" -eq 0 ] && ok || fail "TLS vmctld: exit $rc on SIGTERM"

finish
