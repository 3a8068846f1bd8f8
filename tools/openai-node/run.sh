#!/usr/bin/env bash
# make openai-node: the official openai npm package (pinned in package-lock.json)
# against a fresh loom serve built from this tree. Needs node/npm and the npm
# registry once (npm ci), ../shared/models for stories260K (the tiny BERT
# encoders come from plugins/text/testdata/embed), go for the
# examples/shapesvideo plugin the videos check uses.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
port=${LOOM_NODE_PORT:-18411}
npm ci --no-audit --no-fund >/dev/null
# A video.generate model for the videos check, whatever models are installed:
# the procedural Shapes renderer of examples/shapesvideo, beside the plugins.
(cd "$root" && go build -o bin/loom-plugin-shapesvideo ./examples/shapesvideo)
models="$root/models:$root/plugins/text/testdata/embed"
[ -d "$root/../shared/models" ] && models="$models:$(cd "$root/../shared/models" && pwd)"
"$root/bin/loom" serve --addr "127.0.0.1:$port" --plugins "$root/bin" --models "$models" --log-level warn --api-keys node-check &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf -H "Authorization: Bearer node-check" "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
LOOM_URL="http://127.0.0.1:$port" LOOM_KEY=node-check node check.mjs
