#!/usr/bin/env bash
# Installs the Debian packages the test suite uses as checkers when they are
# missing (make test runs it first; nothing here is needed by Loom itself):
# redis-server: the Redis queue's conformance and failure tests.
# pocketsphinx, pocketsphinx-en-us, sox: the shipped speech model's intelligibility test (plugins/audio);
# espeak-ng too for make wer-tts (the teacher voices' side of the table).
# ffmpeg (ffprobe): the video and MP3 files' tests decode them; chromium: the MP4 plays in a <video>, and the
# web playground's browser test (e2e/playground_test.go).
# python3-torch, python3-numpy: the training tools' own unit tests (make test-tools: tools/asr, tools/video), run by
# Debian's /usr/bin/python3, the only Python that sees Debian's packages.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v pocketsphinx_batch >/dev/null || need+=(pocketsphinx)
[ -d /usr/share/pocketsphinx/model/en-us/en-us ] || need+=(pocketsphinx-en-us)
command -v sox >/dev/null || need+=(sox)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v ffprobe >/dev/null || need+=(ffmpeg)
command -v chromium >/dev/null || need+=(chromium)
/usr/bin/python3 -c 'import numpy' 2>/dev/null || need+=(python3-numpy)
/usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing test tools: ${need[*]} — run as root, or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
