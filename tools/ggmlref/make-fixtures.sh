#!/bin/sh
# Regenerates core/kernels/testdata/ggmlref.gguf: llama.cpp's dequantised
# rows and dot products for every weight type Loom computes, on weights
# quantized by llama.cpp's own llama-quantize. Needs a llama.cpp build
# (LLAMA=/path/to/llama.cpp with build/ from cmake; static libs are fine).
#
#   LLAMA=/work/llama.cpp sh tools/ggmlref/make-fixtures.sh
set -eu
LLAMA=${LLAMA:-/work/llama.cpp}
BUILD=$LLAMA/build
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d /tmp/ggmlref.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

cc -O2 -o "$TMP/ggmlref" "$ROOT/tools/ggmlref/ggmlref.c" \
	-I"$LLAMA/ggml/include" \
	"$BUILD/ggml/src/libggml.a" "$BUILD/ggml/src/libggml-cpu.a" "$BUILD/ggml/src/libggml-base.a" \
	-lstdc++ -lm -lpthread -fopenmp

# A small random Llama (ff 512 = two K-quant super-blocks per row).
(cd "$ROOT" && go run ./tools/mkllama -type f32 -dim 256 -layers 1 -heads 4 -kv-heads 4 -ff 512 -vocab 256 \
	-context 64 -out "$TMP/f32.gguf")
specs=""
for t in q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K iq4_nl; do
	"$BUILD/bin/llama-quantize" --pure "$TMP/f32.gguf" "$TMP/$t.gguf" "$t" 1 >/dev/null 2>&1
	specs="$specs $TMP/$t.gguf:blk.0.ffn_down.weight:4"
done
# shellcheck disable=SC2086
"$TMP/ggmlref" "$ROOT/core/kernels/testdata/ggmlref.gguf" $specs
