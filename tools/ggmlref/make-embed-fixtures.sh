#!/bin/sh
# Writes plugins/text/testdata/embed: two tiny random BERT encoders with a
# small English WordPiece vocabulary (tools/mkllama -arch bert -wordpiece),
# bert-mean-f32 (mean pooling, f32) and bert-cls-q8_0 (CLS pooling, q8_0),
# and, for each, what llama.cpp makes of texts.txt (one text a line):
#   NAME.ids        llama-tokenize's ids of each line ([CLS] … [SEP]), one line each;
#   NAME.embd.json  llama-embedding's normalised embeddings (--embd-normalize 2,
#                   the file's own pooling, -fa off: its default flash attention
#                   rounds K and V to f16, 3e-5 off), its OpenAI-style JSON.
# plugins/text TestBERTEmbeddingsMatchLlamaCpp and e2e TestEmbeddingsBERT
# compare Loom's with them. Needs llama.cpp's llama-embedding and
# llama-tokenize (cmake --build build --target llama-embedding llama-tokenize).
#
#   LLAMA=/work/llama.cpp sh tools/ggmlref/make-embed-fixtures.sh
set -eu
LLAMA=${LLAMA:-/work/llama.cpp}
BIN=$LLAMA/build/bin
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=$ROOT/plugins/text/testdata/embed
for spec in bert-mean-f32:f32:1:23 bert-cls-q8_0:q8_0:2:24; do
	name=${spec%%:*}
	rest=${spec#*:}
	typ=${rest%%:*}
	rest=${rest#*:}
	pool=${rest%%:*}
	seed=${rest#*:}
	(cd "$ROOT" && go run ./tools/mkllama -arch bert -wordpiece -type "$typ" -dim 32 -layers 2 -heads 4 -kv-heads 4 \
		-ff 64 -context 64 -std 0.1 -norm-noise 0.1 -pooling "$pool" -seed "$seed" -out "$DIR/$name.gguf")
	: >"$DIR/$name.ids"
	while IFS= read -r line; do
		"$BIN/llama-tokenize" -m "$DIR/$name.gguf" -p "$line" --ids --log-disable | tail -n 1 >>"$DIR/$name.ids"
	done <"$DIR/texts.txt"
	# llama-embedding prints the JSON through its asynchronous log, which
	# sometimes exits before writing all of stdout: run it until the JSON
	# holds every text and its closing brace.
	n=$(wc -l <"$DIR/texts.txt")
	for try in 1 2 3 4 5 6 7 8 9 10; do
		"$BIN/llama-embedding" -m "$DIR/$name.gguf" -t 1 -c 64 -fa off --embd-normalize 2 --embd-output-format json \
			-p "$(cat "$DIR/texts.txt")" 2>/dev/null >"$DIR/$name.embd.json" || true
		[ "$(grep -c '"index"' "$DIR/$name.embd.json")" = "$n" ] && [ "$(grep -v '^$' "$DIR/$name.embd.json" | tail -n 1)" = "}" ] && break
		[ "$try" = 10 ] && { echo "llama-embedding: no complete JSON in 10 runs" >&2; exit 1; }
	done
done
