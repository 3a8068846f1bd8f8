#!/usr/bin/python3
"""Tests of train.py's pieces that need no data: /usr/bin/python3 -m unittest tools/asr/test_train.py"""
import os
import random
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402
import whisper_ref as W  # noqa: E402


def tone(hz, seconds=1.0):
    t = np.arange(int(seconds * W.SAMPLE_RATE)) / W.SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def peak_bin(x, filters=None):
    mel = W.log_mel(x, len(x), filters=filters).numpy()
    return int(mel[:, 10:-10].mean(axis=1).argmax())


class WarpFilters(unittest.TestCase):
    def test_identity(self):
        np.testing.assert_allclose(train.warp_filters(1.0), W.mel_filters(), atol=1e-7)

    def test_moves_a_tone(self):
        # a 1,000 Hz tone under factor 1.2 lands in the mel bin of a 1,200 Hz tone, and under 0.8 in that of 800 Hz
        for alpha in (0.8, 1.2):
            got = peak_bin(tone(1000), train.warp_filters(alpha))
            want = peak_bin(tone(1000 * alpha))
            self.assertLessEqual(abs(got - want), 1, (alpha, got, want))
            self.assertNotEqual(got, peak_bin(tone(1000)))

    def test_above_the_edge(self):
        # 7,000 Hz is above the boundary: it moves less than alpha would move it and stays inside the band
        alpha = 1.1
        to = W.SAMPLE_RATE / 2 - (W.SAMPLE_RATE / 2 - train.WARP_EDGE) / (W.SAMPLE_RATE / 2 - train.WARP_EDGE / alpha) * (W.SAMPLE_RATE / 2 - 7000)
        self.assertTrue(7000 < to < 7000 * alpha)
        got = peak_bin(tone(7000), train.warp_filters(alpha))
        self.assertLessEqual(abs(got - peak_bin(tone(to))), 1)

    def test_shape_and_sign(self):
        for alpha in (0.9, 1.0, 1.1):
            f = train.warp_filters(alpha)
            self.assertEqual(f.shape, (80, W.N_FFT // 2 + 1))
            self.assertEqual(f.dtype, np.float32)
            self.assertGreaterEqual(f.min(), 0)
            self.assertTrue((f.sum(axis=1) > 0).all())  # no mel bin left empty

    def test_refusals(self):
        for alpha in (0.0, 0.4, 2.5, -1):
            with self.assertRaises(ValueError):
                train.warp_filters(alpha)


class AugmentChoices(unittest.TestCase):
    def test_warp_share(self):
        aug = train.Augment(random.Random(3), warp=0.5, warp_range=(0.9, 1.1))
        got = [aug.filters() is not None for _ in range(2000)]
        self.assertAlmostEqual(sum(got) / len(got), 0.5, delta=0.04)
        self.assertIsNone(train.Augment(random.Random(3)).filters())

    def test_speed_range(self):
        # --speed 1 with the range 1.2-1.2 shortens every clip to 1/1.2 of its samples
        aug = train.Augment(random.Random(5), room=0, noise=0, speed=1.0, speed_range=(1.2, 1.2))
        pcm = (tone(300, 2.0) * 30000).astype(np.int16)
        _, _, speech = aug(pcm)
        self.assertEqual(speech, int(len(pcm) / 1.2))

    def test_parse_range(self):
        self.assertEqual(train.parse_range("0.85,1.15", "--x"), (0.85, 1.15))
        for bad in ("1.1,0.9", "0.9", "a,b", "0.1,1", "1,3"):
            with self.assertRaises(SystemExit):
                train.parse_range(bad, "--x")


if __name__ == "__main__":
    unittest.main()
