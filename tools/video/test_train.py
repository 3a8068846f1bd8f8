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


class KVPool(unittest.TestCase):
    def test_parse(self):
        self.assertEqual(train.parse_kv_pool("up_blocks.2=4,mid_block=2", ["mid_block", "up_blocks.2"]), {"up_blocks.2": 4, "mid_block": 2})
        self.assertEqual(train.parse_kv_pool("mid_block=1", ["mid_block"]), {})
        self.assertEqual(train.parse_kv_pool("", []), {})
        for bad in ("up_blocks.1=4", "mid_block=0", "mid_block=17", "mid_block=x", "mid_block", "mid_block=2,mid_block=2"):
            with self.assertRaises(SystemExit, msg=bad):
                train.parse_kv_pool(bad, ["mid_block", "up_blocks.2"])

    def test_pool_tokens(self):
        import torch
        # a 5×7 grid in 2×2 cells: edge cells average what they cover
        x = torch.randn(2, 3 * 5 * 7, 4)
        got = train.V.pool_tokens(x, 3, 5, 7, 2)
        self.assertEqual(tuple(got.shape), (2, 3 * 3 * 4, 4))
        g = x.reshape(2, 3, 5, 7, 4)
        for cy, cx in ((0, 0), (2, 3), (1, 3), (2, 1)):
            want = g[:, :, 2 * cy:2 * cy + 2, 2 * cx:2 * cx + 2].mean((2, 3))
            np.testing.assert_allclose(got.reshape(2, 3, 3, 4, 4)[:, :, cy, cx].numpy(), want.numpy(), rtol=1e-5, atol=1e-6)

    def test_exact_on_constant_cells(self):
        import torch
        # tokens constant over each 2×2 cell: pooled keys and values give the full attention's output
        torch.manual_seed(3)
        full, pooled = train.V.GlobalBlock(8, 2), train.V.GlobalBlock(8, 2, kv_pool=2)
        pooled.load_state_dict(full.state_dict())
        cells = torch.randn(1, 2, 2, 3, 8)  # frames 2, a 2×3 grid of cells
        x = cells.repeat_interleave(2, 2).repeat_interleave(2, 3).reshape(1, 2 * 4 * 6, 8)
        with torch.no_grad():
            np.testing.assert_allclose(pooled(x, grid=(2, 4, 6)).numpy(), full(x).numpy(), rtol=1e-4, atol=1e-5)
            y = torch.randn_like(x)
            self.assertGreater(float((pooled(y, grid=(2, 4, 6)) - full(y)).abs().max()), 1e-3)


class MovingAverage(unittest.TestCase):
    def test_decay_warms_up(self):
        self.assertAlmostEqual(train.ema_decay(0.999, 0), 0.1)
        self.assertAlmostEqual(train.ema_decay(0.999, 10), 11 / 20)
        self.assertEqual(train.ema_decay(0.999, 100000), 0.999)

    def test_update_and_export(self):
        import torch
        net = torch.nn.Linear(2, 1)
        net.bias.requires_grad_(False)
        with torch.no_grad():
            net.weight.copy_(torch.tensor([[1.0, 2.0]]))
            net.bias.fill_(5.0)
        ema = {n: p.detach().clone() for n, p in net.named_parameters() if p.requires_grad}
        self.assertEqual(sorted(ema), ["weight"])
        with torch.no_grad():
            net.weight.copy_(torch.tensor([[3.0, 6.0]]))
        train.ema_update(ema, net, 0.5, 1000)  # decay 0.5: halfway to the new weights
        np.testing.assert_allclose(ema["weight"].numpy(), [[2.0, 4.0]])
        np.testing.assert_allclose(net.weight.detach().numpy(), [[3.0, 6.0]])  # the trained weights are untouched
        sd = train.with_ema(net, ema)
        np.testing.assert_allclose(sd["weight"].numpy(), [[2.0, 4.0]])
        self.assertEqual(float(sd["bias"]), 5.0)  # an untrained tensor is exported as it is
        np.testing.assert_allclose(train.with_ema(net, None)["weight"].numpy(), [[3.0, 6.0]])


if __name__ == "__main__":
    unittest.main()
