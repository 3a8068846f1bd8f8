#!/usr/bin/python3
"""Tests of train.py's pieces that need no data: /usr/bin/python3 -m unittest tools/asr/test_train.py"""
import os
import random
import sys
import unittest

import numpy as np
import torch

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


class Grow(unittest.TestCase):
    def model(self, size, seed):
        torch.manual_seed(seed)
        m = W.Whisper(train.model_config(60, size))
        with torch.no_grad():  # every weight non-zero, so a copied tensor in the wrong place shows
            for p in m.parameters():
                p.normal_(0, 0.1)
        return m.eval()

    def logits(self, m, mel, ids):
        with torch.no_grad():
            return m.model.decoder(ids, m.model.encoder(mel))

    def test_same_function(self):
        small = self.model("32,2,1,64", 1)
        mel = torch.randn(2, 80, 600)
        ids = torch.randint(0, 60, (2, 7))
        want = self.logits(small, mel, ids)
        for size in ("32,2,1,96", "32,4,1,64", "32,3,3,128"):
            big = self.model(size, 2)
            grown = train.grow_state(small.state_dict(), big.state_dict())
            big.load_state_dict(grown)
            np.testing.assert_allclose(self.logits(big, mel, ids).numpy(), want.numpy(), rtol=1e-4, atol=1e-4, err_msg=size)
            # the new units and layers are there to learn: fresh fc1 rows, fresh attention projections
            if size == "32,2,1,96":
                self.assertGreater(float(grown["model.encoder.layers.0.fc1.weight"][64:].abs().sum()), 0)
                self.assertEqual(float(grown["model.encoder.layers.0.fc2.weight"][:, 64:].abs().sum()), 0)
            if size == "32,4,1,64":
                self.assertGreater(float(grown["model.encoder.layers.3.self_attn.q_proj.weight"].abs().sum()), 0)
                self.assertEqual(float(grown["model.encoder.layers.3.fc2.weight"].abs().sum()), 0)
        # a model grown with fresh weights that are not zeroed computes something else (by 10x the tolerance and
        # more): the test can fail
        big = self.model("32,4,1,64", 2)
        state = big.state_dict()
        state.update({k: v for k, v in small.state_dict().items()})
        big.load_state_dict(state)
        self.assertGreater(float((self.logits(big, mel, ids) - want).abs().max()), 1e-3)

    def test_refusals(self):
        small = self.model("32,2,1,64", 1).state_dict()
        for size in ("48,2,1,64", "32,1,1,64", "32,2,1,32"):  # wider model, fewer layers, narrower FFN
            with self.assertRaises(ValueError, msg=size):
                train.grow_state(small, self.model(size, 2).state_dict())

    def test_parse_size(self):
        self.assertEqual(train.parse_size("tiny"), (128, 3, 2, 4, 512))
        self.assertEqual(train.parse_size("128,4,2,768"), (128, 4, 2, 4, 768))
        for bad in ("huge", "128,4,2", "130,4,2,512", "128,0,2,512", "a,b,c,d"):
            with self.assertRaises(ValueError, msg=bad):
                train.parse_size(bad)


if __name__ == "__main__":
    unittest.main()
