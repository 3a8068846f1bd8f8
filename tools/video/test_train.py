#!/usr/bin/python3
"""Tests of train.py's pieces that need no data: /usr/bin/python3 -m unittest tools/video/test_train.py"""
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402


class DrawProbabilities(unittest.TestCase):
    prompts = ["a small red circle moving up", "a large blue square moving left",
               "a large green triangle moving down", "a small purple square moving right"]

    def test_uniform(self):
        self.assertIsNone(train.draw_probabilities(self.prompts, 1))

    def test_small_weight(self):
        # weights 3, 1, 1, 3 over a total of 8
        p = train.draw_probabilities(self.prompts, 3)
        np.testing.assert_allclose(p, [0.375, 0.125, 0.125, 0.375])

    def test_size_word_only(self):
        # "small" elsewhere than the size word does not count
        p = train.draw_probabilities(["a large small circle moving up", "a small red circle moving up"], 2)
        np.testing.assert_allclose(p, [1 / 3, 2 / 3])

    def test_draws_follow(self):
        p = train.draw_probabilities(self.prompts, 3)
        rng = np.random.RandomState(0)
        idx = rng.choice(len(self.prompts), 40000, p=p)
        small = np.isin(idx, [0, 3]).mean()
        self.assertAlmostEqual(small, 0.75, delta=0.01)


class FrameNoise(unittest.TestCase):
    def test_zero_share_is_independent_noise(self):
        import torch
        a, b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        self.assertTrue(torch.equal(train.frame_noise(2, 0, a), torch.randn(2, train.FRAMES, 4, 16, 16, generator=b)))

    def test_mixed_prior(self):
        # each frame stays unit Gaussian; two frames correlate by the share
        x = train.frame_noise(100, 0.5).double()
        self.assertAlmostEqual(float(x.var()), 1, delta=0.02)
        corr = float((x[:, 0] * x[:, 5]).mean())
        self.assertAlmostEqual(corr, 0.5, delta=0.02)


if __name__ == "__main__":
    unittest.main()
