#!/usr/bin/python3
"""Tests of average.py: /usr/bin/python3 -m unittest tools/video/test_average.py"""
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import average  # noqa: E402


class Average(unittest.TestCase):
    def test_mean_in_f32_stored_as_the_first(self):
        a = {"w": np.array([1, 2], np.float16), "b": np.array([0.5], np.float16)}
        b = {"w": np.array([3, 5], np.float16), "b": np.array([1.5], np.float16), "new": np.zeros(3, np.float16)}
        out, extra = average.average([a, b])
        np.testing.assert_array_equal(out["w"], [2, 3.5])
        np.testing.assert_array_equal(out["b"], [1.0])
        self.assertEqual(out["w"].dtype, np.float16)
        self.assertEqual(sorted(out), ["b", "w"])  # the first folder's architecture
        self.assertEqual(extra, ["new"])

    def test_f16_sums_do_not_overflow(self):
        big = np.array([60000], np.float16)
        out, _ = average.average([{"x": big}, {"x": big}])
        self.assertEqual(float(out["x"][0]), 60000)

    def test_missing_or_reshaped_tensor_is_an_error(self):
        a = {"w": np.zeros(2, np.float32)}
        with self.assertRaisesRegex(ValueError, "has no tensor w"):
            average.average([a, {}])
        with self.assertRaisesRegex(ValueError, "is \\(3,\\)"):
            average.average([a, {"w": np.zeros(3, np.float32)}])

    def test_folder_round_trip(self):
        import safet
        with tempfile.TemporaryDirectory() as d:
            for name, v in (("f1", 1.0), ("f2", 2.0), ("f3", 6.0)):
                os.makedirs(os.path.join(d, name, "unet"))
                safet.save(os.path.join(d, name, average.UNET), {"w": np.full(4, v, np.float16)}, {"format": "pt"})
                with open(os.path.join(d, name, "unet", "config.json"), "w") as f:
                    f.write('{"name": "%s"}' % name)
                with open(os.path.join(d, name, "model_index.json"), "w") as f:
                    f.write("{}")
            out = os.path.join(d, "out")
            average.main(["--out", out] + [os.path.join(d, n) for n in ("f1", "f2", "f3")])
            np.testing.assert_array_equal(safet.load(os.path.join(out, average.UNET))["w"], np.full(4, 3.0))
            with open(os.path.join(out, "unet", "config.json")) as f:
                self.assertIn("f1", f.read())
            self.assertTrue(os.path.islink(os.path.join(out, "model_index.json")))


if __name__ == "__main__":
    unittest.main()
