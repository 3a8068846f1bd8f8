"""Audio features shared by Loom's TTS tools: 16-bit mono WAV I/O, the STFT and
the 80-bin log-mel spectrogram in HiFi-GAN's convention (22050 Hz, n_fft 1024,
hop 256, Hann window 1024, reflect padding of (n_fft-hop)/2 on both sides and no
centring, so a clip of L samples has L // hop frames; magnitude
sqrt(re² + im² + 1e-9); Slaney-normalised mel filters on the Slaney mel scale,
0–8000 Hz; natural log clamped at 1e-5). The acoustic model predicts these
frames and the vocoder turns them back into samples; the Go side only ever sees
mel frames, never computes them."""
import math
import wave

import numpy as np
import torch

SR, N_FFT, HOP, WIN, N_MELS, FMIN, FMAX = 22050, 1024, 256, 1024, 80, 0.0, 8000.0


def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"{path}: want 16-bit mono")
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0, w.getframerate()


def write_wav(path, samples, sr=SR):
    x = np.clip(np.asarray(samples, dtype=np.float32), -1, 1)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((x * 32767).astype(np.int16).tobytes())


def _hz_to_mel(f):
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    logstep = math.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep, lin)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    logstep = math.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), m * (200.0 / 3))


def mel_filters(sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX):
    """(n_mels, 1 + n_fft/2) triangular filters, each scaled to unit area
    (Slaney normalisation, 2 / bandwidth)."""
    fft_f = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    w = np.zeros((n_mels, len(fft_f)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        w[i] = np.maximum(0, np.minimum(lower, upper))
    w *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return w.astype(np.float32)


_BASIS, _WINDOW = {}, {}


def magnitude(y, n_fft=N_FFT, hop=HOP, win=WIN):
    """|STFT| of y (B, L) → (B, 1 + n_fft/2, L // hop), HiFi-GAN padding."""
    key = (str(y.device), win)
    if key not in _WINDOW:
        _WINDOW[key] = torch.hann_window(win, device=y.device)
    p = (n_fft - hop) // 2
    y = torch.nn.functional.pad(y.unsqueeze(1), (p, p), mode="reflect").squeeze(1)
    s = torch.stft(y, n_fft, hop_length=hop, win_length=win, window=_WINDOW[key], center=False, return_complex=True)
    return torch.sqrt(s.real ** 2 + s.imag ** 2 + 1e-9)


def log_mel(y):
    """y (B, L) float in [-1, 1] → log-mel (B, 80, L // hop)."""
    key = str(y.device)
    if key not in _BASIS:
        _BASIS[key] = torch.from_numpy(mel_filters()).to(y.device)
    return torch.log(torch.clamp(_BASIS[key] @ magnitude(y), min=1e-5))


def frame_energy(y):
    """Per-frame L2 norm of the STFT magnitude (B, L // hop), FastSpeech 2's energy."""
    return torch.linalg.norm(magnitude(y), dim=1)
