"""Reference samplers for core/sched, in torch/numpy, following the behaviour
documented for diffusers' DDIMScheduler, EulerDiscreteScheduler,
EulerAncestralDiscreteScheduler and DPMSolverMultistepScheduler
(algorithm_type "dpmsolver++", solver_order 2, midpoint, lower_order_final,
final_sigmas_type "zero"), with their scheduler_config.json keys. Used only to
make golden values; written from the papers (Song et al. 2020 DDIM; Karras et
al. 2022; Lu et al. 2022 DPM-Solver++)."""
import numpy as np
import torch


def alphas_cumprod(c):
    n, b0, b1 = c.get("num_train_timesteps", 1000), c.get("beta_start", 0.00085), c.get("beta_end", 0.012)
    if c.get("beta_schedule", "scaled_linear") == "scaled_linear":
        betas = torch.linspace(b0 ** 0.5, b1 ** 0.5, n, dtype=torch.float32) ** 2
    else:
        betas = torch.linspace(b0, b1, n, dtype=torch.float32)
    ac = torch.cumprod(1.0 - betas.double(), 0).numpy()
    if c.get("rescale_betas_zero_snr"):
        # Lin et al. 2024: shift sqrt(alpha_bar) to end at 0, scale it to keep its start; the last
        # alpha_bar is then 2**-24 rather than 0 (as diffusers' Euler schedulers), so sigmas stay finite.
        r = np.sqrt(ac)
        r = (r - r[-1]) * r[0] / (r[0] - r[-1])
        ac = r ** 2
        ac[-1] = 2.0 ** -24
    return ac.astype(np.float64)


def timesteps(c, steps, spacing):
    n, off = c.get("num_train_timesteps", 1000), c.get("steps_offset", 0)
    if spacing == "linspace":
        return np.linspace(0, n - 1, steps)[::-1].copy()
    if spacing == "leading":
        r = n // steps
        return (np.arange(0, steps) * r).round()[::-1].astype(np.float64) + off
    if spacing == "trailing":
        r = n / steps
        return np.round(np.arange(n, 0, -r)).astype(np.float64) - 1
    raise ValueError(spacing)


class Sampler:
    def __init__(self, kind, c, steps):
        self.kind, self.c = kind, c
        self.ac = alphas_cumprod(c)
        self.pred = c.get("prediction_type", "epsilon")
        n = c.get("num_train_timesteps", 1000)
        spacing = c.get("timestep_spacing", "leading" if kind == "ddim" else "linspace")
        if kind == "dpmpp_2m" and spacing == "linspace":
            self.ts = np.linspace(0, n - 1, steps + 1).round()[::-1][:-1].copy().astype(np.float64)
        else:
            self.ts = timesteps(c, steps, spacing)
        sig = np.sqrt((1 - self.ac) / self.ac)
        self.sigmas = np.concatenate([np.interp(self.ts, np.arange(n), sig), [0.0]])
        if kind == "ddim":
            self.init_sigma = 1.0
        elif kind == "dpmpp_2m":
            self.init_sigma = 1.0
        else:
            m = self.sigmas.max()
            self.init_sigma = m if spacing in ("linspace", "trailing") else (m * m + 1) ** 0.5
        self.x0s = []
        self.steps = steps

    def scale(self, x, i):
        if self.kind in ("euler", "euler_a"):
            return x / (self.sigmas[i] ** 2 + 1) ** 0.5
        return x

    def step(self, out, x, i, noise):
        k = self.kind
        if k == "ddim":
            t = int(self.ts[i])
            prev = t - self.c.get("num_train_timesteps", 1000) // self.steps
            a = self.ac[t]
            ap = self.ac[prev] if prev >= 0 else (1.0 if self.c.get("set_alpha_to_one", True) else self.ac[0])
            b = 1 - a
            if self.pred == "epsilon":
                x0, eps = (x - b ** 0.5 * out) / a ** 0.5, out
            else:
                x0, eps = a ** 0.5 * x - b ** 0.5 * out, a ** 0.5 * out + b ** 0.5 * x
            eta = self.c.get("eta", 0.0)
            var = (1 - ap) / (1 - a) * (1 - a / ap)
            std = eta * var ** 0.5
            y = ap ** 0.5 * x0 + (1 - ap - std ** 2) ** 0.5 * eps
            if eta > 0:
                y = y + std * noise
            return y
        s, s1 = self.sigmas[i], self.sigmas[i + 1]
        if k in ("euler", "euler_a"):
            if self.pred == "epsilon":
                x0 = x - s * out
            else:
                x0 = out * (-s / (s * s + 1) ** 0.5) + x / (s * s + 1)
            d = (x - x0) / s
            if k == "euler":
                return x + d * (s1 - s)
            up = (s1 ** 2 * (s ** 2 - s1 ** 2) / s ** 2) ** 0.5
            down = (s1 ** 2 - up ** 2) ** 0.5
            return x + d * (down - s) + noise * up
        # dpmpp_2m
        def asig(sg):
            al = 1 / (sg * sg + 1) ** 0.5
            return al, sg * al

        at, st = asig(s)
        x0 = (x - st * out) / at if self.pred == "epsilon" else at * x - st * out
        self.x0s.append(x0)
        n = len(self.ts)
        last = i == n - 1
        second_last = i == n - 2 and n < 15
        if len(self.x0s) < 2 or last:
            a1, s1_ = asig(s1)
            if s1 == 0:
                return x0
            h = (np.log(a1) - np.log(s1_)) - (np.log(at) - np.log(st))
            return (s1_ / st) * x - a1 * (np.exp(-h) - 1) * x0
        # second order (second_last still allows order 2 once a history exists)
        _ = second_last
        a1, s1_ = asig(s1)
        ap_, sp_ = asig(self.sigmas[i - 1])
        lt, l0, lp = np.log(a1) - np.log(s1_), np.log(at) - np.log(st), np.log(ap_) - np.log(sp_)
        h, h0 = lt - l0, l0 - lp
        r0 = h0 / h
        m0, m1 = self.x0s[-1], self.x0s[-2]
        d1 = (m0 - m1) / r0
        return (s1_ / st) * x - a1 * (np.exp(-h) - 1) * m0 - 0.5 * a1 * (np.exp(-h) - 1) * d1

    def add_noise(self, x, noise, i):
        if self.kind == "ddim":
            a = self.ac[int(self.ts[i])]
            return a ** 0.5 * x + (1 - a) ** 0.5 * noise
        if self.kind == "dpmpp_2m":
            al = 1 / (self.sigmas[i] ** 2 + 1) ** 0.5
            return al * x + self.sigmas[i] * al * noise
        return x + noise * self.sigmas[i]


def img2img_start(steps, strength):
    """Index of the first timestep an image-to-image run uses."""
    init = min(int(steps * strength), steps)
    return max(steps - init, 0)
