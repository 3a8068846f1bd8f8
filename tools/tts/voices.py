"""The teacher's voices. Loom's speakers are espeak-ng voices rendered by its
Klatt synthesiser (en-us+klatt, en-us+klatt6, and two female variants kept in
tools/tts/espeak-variants/: Debian's f2 and f5 with a `klatt` line added).
Debian's pocketsphinx reads Klatt renderings at about 0.26-0.29 WER against
0.59-0.92 for espeak-ng's default synthesiser (tools/tts/wer.py, batch
decoding; the model card has the sweep), so a student of these voices can be
intelligible.

espeak-ng only finds variants inside its data directory, so espeak_data()
makes a private copy of Debian's espeak-ng-data with Loom's variants added and
returns the directory to hand to espeak_Initialize or `espeak-ng --path`."""
import os
import re
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = os.path.join(HERE, "espeak-variants")
# speaker i = VOICES[i]; the names in models/loom-tts/speech.json follow this order
VOICES = ["en-us+klatt", "en-us+loomf2", "en-us+klatt6", "en-us+loomf5"]


def system_data():
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Data at:\s*(\S+)", out)
    if not m or not os.path.isdir(m.group(1)):
        raise SystemExit(f"cannot find espeak-ng's data directory in {out!r}")
    return m.group(1)


def espeak_data(dst):
    """Copies espeak-ng-data to dst/espeak-ng-data, adds Loom's variants, returns dst."""
    data = os.path.join(dst, "espeak-ng-data")
    if os.path.isdir(data):
        shutil.rmtree(data)
    shutil.copytree(system_data(), data)
    for name in sorted(os.listdir(VARIANTS)):
        shutil.copy(os.path.join(VARIANTS, name), os.path.join(data, "voices", "!v", name))
    return dst
