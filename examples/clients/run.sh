#!/usr/bin/env bash
# Generates a HoverBot client with each generator people use, builds or type-checks it, and runs the
# published flow through it against a live server: create a conversation, ask a question, read the
# transcript, escalate, page through a list, and meet a 404 and a 429 as typed errors.
#
#   examples/clients/run.sh [GENERATOR...]     (default: all of them)
#
# Generators: openapi-generator-python, openapi-generator-typescript-fetch, openapi-python-client,
# openapi-typescript (with openapi-fetch), progenitor (Rust, from the derived OpenAPI 3.0 document).
#
# Environment:
#   HOVERBOT_URL, HOVERBOT_API_KEY   the server and a key with every scope
#   HOVERBOT_LIMITED_API_KEY         a key of a workspace limited to a few requests a minute, for the 429
#   CLIENTS_DIR                      where generated code goes (default: a new temporary directory)
#   NODE_MODULES                     a node_modules directory with typescript, @types/node and
#                                    openapi-fetch (default: ./node_modules)
# Tools on PATH: openapi-generator-cli (and java), openapi-python-client (and ruff, which it runs on
# its output), python3, mypy, node, openapi-typescript, tsc, cargo and cargo-progenitor.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
EXAMPLES="$ROOT/examples/clients"
SPEC="$ROOT/openapi/hoverbot.yaml"
SPEC_30="$ROOT/openapi/derived/hoverbot-3.0.json"
ALL=(openapi-generator-python openapi-generator-typescript-fetch openapi-python-client openapi-typescript progenitor)

die() {
  echo "error: $*" >&2
  exit 1
}

: "${HOVERBOT_URL:?set HOVERBOT_URL}" "${HOVERBOT_API_KEY:?set HOVERBOT_API_KEY}"
: "${HOVERBOT_LIMITED_API_KEY:?set HOVERBOT_LIMITED_API_KEY (a key whose workspace has a small rate limit)}"
export HOVERBOT_URL HOVERBOT_API_KEY HOVERBOT_LIMITED_API_KEY
CLIENTS_DIR=${CLIENTS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/hoverbot-clients.XXXXXX")}
NODE_MODULES=$(realpath "${NODE_MODULES:-node_modules}")
mkdir -p "$CLIENTS_DIR"

# openapi-generator warns about any OpenAPI 3.1 document, whatever it holds (its 3.1 support is marked
# beta, and it looks for a schema name it never finds); any other warning is a fault of our spec.
openapi_generator() {
  local out=$1 log
  shift
  rm -rf "$out"
  log=$(openapi-generator-cli generate -i "$SPEC" -o "$out" --global-property apis,models,supportingFiles \
    "$@" 2>&1) || {
    printf '%s\n' "$log"
    die "openapi-generator failed"
  }
  if grep -E '\bWARN\b' <<<"$log" |
    grep -vE 'OpenAPI 3\.1 support is still in beta|Failed to get the schema name: null'; then
    die "openapi-generator warned about the spec (above)"
  fi
}

# A virtual environment with the generated package installed, and mypy to type-check the flow with.
python_env() {
  local env=$1 package=$2
  python3 -m venv --clear "$env"
  "$env/bin/pip" install --quiet --disable-pip-version-check "$package" mypy==2.4.1
}

typescript_check() {
  local dir=$1
  ln -sfn "$NODE_MODULES" "$dir/node_modules"
  (cd "$dir" && node_modules/.bin/tsc --strict --noEmitOnError --target es2022 --module commonjs \
    --lib es2022,dom --types node --outDir dist flow.ts)
}

run_client() {
  local dir="$CLIENTS_DIR/$1"
  echo "--- $1"
  case $1 in
    openapi-generator-python)
      openapi_generator "$dir/client" -g python --package-name hoverbot_client
      python_env "$dir/venv" "$dir/client"
      "$dir/venv/bin/mypy" --config-file "$EXAMPLES/openapi_generator_python.mypy.ini" \
        "$EXAMPLES/openapi_generator_python.py"
      "$dir/venv/bin/python" "$EXAMPLES/openapi_generator_python.py"
      ;;
    openapi-generator-typescript-fetch)
      openapi_generator "$dir" -g typescript-fetch --additional-properties npmName=hoverbot-client
      cp "$EXAMPLES/typescript_fetch.ts" "$dir/flow.ts"
      typescript_check "$dir"
      node "$dir/dist/flow.js"
      ;;
    openapi-python-client)
      rm -rf "$dir"
      mkdir -p "$dir"
      local log
      log=$(cd "$dir" && openapi-python-client generate --path "$SPEC" --output-path client \
        --config "$EXAMPLES/openapi-python-client.yaml" 2>&1) || {
        printf '%s\n' "$log"
        die "openapi-python-client failed"
      }
      if grep -qi 'warning' <<<"$log"; then
        printf '%s\n' "$log"
        die "openapi-python-client warned about the spec (above)"
      fi
      python_env "$dir/venv" "$dir/client"
      "$dir/venv/bin/mypy" --strict "$EXAMPLES/openapi_python_client.py"
      "$dir/venv/bin/python" "$EXAMPLES/openapi_python_client.py"
      ;;
    openapi-typescript)
      rm -rf "$dir"
      mkdir -p "$dir"
      openapi-typescript "$SPEC" --output "$dir/hoverbot.d.ts"
      cp "$EXAMPLES/openapi_fetch.ts" "$dir/flow.ts"
      typescript_check "$dir"
      node "$dir/dist/flow.js"
      ;;
    progenitor)
      rm -rf "$dir"
      local log
      log=$(cargo progenitor --input "$SPEC_30" --output "$dir" --name hoverbot-client --version 1.0.0 2>&1) || {
        printf '%s\n' "$log"
        die "progenitor failed"
      }
      mkdir -p "$dir/examples"
      cp "$EXAMPLES/progenitor.rs" "$dir/examples/flow.rs"
      # Warnings in the generated code would be the spec's doing: deny them (in this package only).
      cat >>"$dir/Cargo.toml" <<'TOML'

[dev-dependencies]
futures = "0.3"
serde_json = "1"
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }

[lints.rust]
warnings = "deny"
TOML
      (cd "$dir" && cargo run --quiet --example flow)
      ;;
    *) die "unknown generator \`$1\` (expected one of: ${ALL[*]})" ;;
  esac
}

GENERATORS=("$@")
[[ ${#GENERATORS[@]} -gt 0 ]] || GENERATORS=("${ALL[@]}")
for generator in "${GENERATORS[@]}"; do
  run_client "$generator"
done
