#!/usr/bin/python3
"""Tests of make_data.py's accent rewrites: /usr/bin/python3 -m unittest tools/asr/test_make_data.py
(the espeak-ng round trip is skipped where espeak-ng is not installed)."""
import os
import random
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_data as M  # noqa: E402

PH = "D@ k'Vp 0v b'Vt3r- Iz 0nD@ b'aaT m'at\ng,oU h'oUm n'aU_:_: and b'aI a# k'A@ s'IN w'0t@ 'eIt"


class AccentPhonemes(unittest.TestCase):
    def test_none(self):
        self.assertEqual(M.accent_phonemes(PH, []), "[[D@ k'Vp 0v b'Vt3r- Iz 0nD@ b'aaT m'at _:_: "
                                                     "g,oU h'oUm n'aU_:_: and b'aI a# k'A@ s'IN w'0t@ 'eIt]]")

    def test_each_rule(self):
        want = {
            "strut-foot": ["k'Up", "b'Ut3r-"],
            "bath-trap": ["b'aT"],
            "price": ["b'OI"],
            "face": ["'aIt"],
            "goat": ["g,aU", "h'aUm"],
            "lot": ["A:v", "A:nD@", "w'A:t@"],
            "h-drop": [" 'oUm"],
            "ng": ["s'INg"],
            "t-glottal": ["w'0?@", "'eI?]]", "m'a?"],
            "th-front": ["b'aaf"],
        }
        self.assertEqual(set(want), set(M.ACCENT_RULES))
        for name, parts in want.items():
            got = M.accent_phonemes(PH, [name])
            for p in parts:
                self.assertIn(p, got, name)
        # rules leave the rest alone: strut-foot changes only the two strut vowels
        self.assertEqual(M.accent_phonemes(PH, ["strut-foot"]).replace("U", "V"),
                         M.accent_phonemes(PH, []).replace("U", "V"))

    def test_price_before_face(self):
        # "eight" under both rules has face's new vowel, not price's rewrite of it
        got = M.accent_phonemes("'eIt b'aI", ["face", "price"])
        self.assertEqual(got, "[['aIt b'OI]]")
        self.assertEqual(got, M.accent_phonemes("'eIt b'aI", ["price", "face"]))

    def test_unknown(self):
        with self.assertRaises(ValueError):
            M.accent_phonemes(PH, ["cockney"])

    def test_draw(self):
        rng = random.Random(4)
        draws = [M.draw_accent(rng) for _ in range(500)]
        self.assertTrue(all(d and d == sorted(d) and set(d) <= set(M.ACCENT_RULES) for d in draws))
        mean = sum(len(d) for d in draws) / len(draws)
        self.assertAlmostEqual(mean, 4.0, delta=0.4)  # 10 rules at 0.4 each (plus the rare empty draw made one)


@unittest.skipUnless(shutil.which("espeak-ng") and shutil.which("sox"), "espeak-ng and sox not installed")
class Spoken(unittest.TestCase):
    def test_accent_changes_the_audio_not_the_length(self):
        tmp = tempfile.mkdtemp(prefix="test-accent-")
        self.addCleanup(shutil.rmtree, tmp)
        data = M.tts_voices.espeak_data(tmp)
        text = "the cup of butter is on the bath mat"
        plain = M.espeak_clip(data, "en-gb", 160, 50, text)
        same = M.espeak_clip(data, "en-gb", 160, 50, text, accent=[])
        shifted = M.espeak_clip(data, "en-gb", 160, 50, text, accent=["strut-foot", "bath-trap"])
        self.assertGreater(len(plain), 16000)
        self.assertEqual(len(same), len(plain))  # no rules: the plain clip
        self.assertLess(abs(len(shifted) - len(plain)), 0.25 * len(plain))
        self.assertNotEqual(shifted.tobytes(), plain.tobytes())


if __name__ == "__main__":
    unittest.main()
