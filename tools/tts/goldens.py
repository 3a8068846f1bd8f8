#!/usr/bin/python3
"""Golden files for Loom's Go TTS towers: tiny random-initialised FastSpeech 2,
HiFi-GAN generators (both ResBlock types) and a Vocos from model.py, exported as
safetensors with their reference names (the vocoders weight-normed, weight_g /
weight_v, as HiFi-GAN checkpoints store them), and the PyTorch outputs the Go
towers must reproduce:

  acoustic: ids, speaker, encoder output (+ speaker), log durations, pitch and
  energy predictions, mel and postnet mel for given durations (teacher
  forcing), and the free-running synthesis with pitch/energy/duration
  controls (predicted durations, postnet mel).
  vocoder:  a random mel (80, T) and the waveform (T·hop) of each vocoder.

  /usr/bin/python3 tools/tts/goldens.py --out core/towers/testdata

Writes OUT/tts_acoustic/{config.json,model.safetensors},
OUT/tts_vocoder{1,2}/{config.json,model.safetensors}, OUT/tts_vocos/{config.json,model.safetensors},
OUT/tts_golden.safetensors."""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.append(os.path.join(os.path.dirname(__file__), "..", "captioner"))  # safet.py, the shared writer
sys.path.insert(0, os.path.dirname(__file__))
import model as M  # noqa: E402
import safet  # noqa: E402

ACOUSTIC = {
    "n_src_vocab": 33, "n_mel_channels": 80, "max_seq_len": 50, "multi_speaker": True, "n_speaker": 3,
    "use_pitch": True, "use_energy": True,
    "transformer": {"encoder_layer": 2, "encoder_head": 2, "encoder_hidden": 32, "decoder_layer": 2,
                    "decoder_head": 2, "decoder_hidden": 32, "conv_filter_size": 64, "conv_kernel_size": [9, 1],
                    "encoder_dropout": 0.2, "decoder_dropout": 0.2},
    "variance_predictor": {"filter_size": 32, "kernel_size": 3, "dropout": 0.5},
    "variance_embedding": {"pitch_quantization": "linear", "energy_quantization": "linear", "n_bins": 16},
    "stats": {"pitch": [-2.0, 2.0, 0.0, 1.0], "energy": [-2.0, 2.0, 0.0, 1.0]},
    "postnet": {"n_convolutions": 3, "embedding_dim": 32, "kernel_size": 5},
}

VOCODERS = {
    "tts_vocoder1": {"resblock": "1", "num_mels": 80, "upsample_rates": [4, 4], "upsample_kernel_sizes": [8, 8],
                     "upsample_initial_channel": 32, "resblock_kernel_sizes": [3, 5],
                     "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]], "sampling_rate": 22050, "hop_size": 16},
    "tts_vocoder2": {"resblock": "2", "num_mels": 80, "upsample_rates": [4, 2, 2], "upsample_kernel_sizes": [8, 4, 4],
                     "upsample_initial_channel": 32, "resblock_kernel_sizes": [3, 5, 7],
                     "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]], "sampling_rate": 22050, "hop_size": 16},
}


VOCOS = {
    "backbone": {"class_path": "vocos.models.VocosBackbone",
                 "init_args": {"input_channels": 80, "dim": 32, "intermediate_dim": 96, "num_layers": 3}},
    "head": {"class_path": "vocos.heads.ISTFTHead", "init_args": {"dim": 32, "n_fft": 1024, "hop_length": 256, "padding": "same"}},
    "sampling_rate": 22050,
}


def export(net, d, cfg):
    """config.json + model.safetensors; BatchNorm's int64 step counters
    (num_batches_tracked) are training state and are left out."""
    os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)
    sd = {k: v.detach().numpy() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    safet.save(os.path.join(d, "model.safetensors"), sd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    g = {}

    # ---- acoustic model ----
    net = M.FastSpeech2(ACOUSTIC)
    with torch.no_grad():  # make the random model's paths non-trivial
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.8, 1.2)
                m.bias.normal_(0, 0.05)
        net.variance_adaptor.duration_predictor.linear_layer.bias.fill_(1.3)  # ~3 frames a symbol
    net.eval()
    export(net, os.path.join(a.out, "tts_acoustic"), ACOUSTIC)
    N = 20
    ids = torch.randint(1, ACOUSTIC["n_src_vocab"], (1, N))
    spk = torch.tensor([2])
    lens = torch.tensor([N])
    dur = torch.randint(0, 7, (1, N))  # teacher durations, zeros included
    with torch.no_grad():
        enc = net.encoder(ids, None) + net.speaker_emb(spk).unsqueeze(1)
        mel, post, log_d, _, _, p, e = net(ids, lens, spk, d_target=dur)
        _, post2, _, d2, _, _, _ = net(ids, lens, spk, p_control=1.2, e_control=0.9, d_control=0.8)
    g.update({"ids": ids[0].int().numpy(), "speaker": spk.int().numpy(), "encoder": enc[0].numpy(),
              "log_duration": log_d[0].numpy(), "pitch": p[0].numpy(), "energy": e[0].numpy(),
              "durations": dur[0].int().numpy(), "mel": mel[0].numpy(), "mel_postnet": post[0].numpy(),
              "synth_durations": d2[0].int().numpy(), "synth_mel": post2[0].numpy()})
    print("acoustic params", M.param_count(net), "teacher frames", int(dur.sum()), "synth frames", int(d2.long().sum()))

    # ---- vocoders ----
    mel_in = torch.randn(1, 80, 12) * 0.5 - 4
    g["voc_mel"] = mel_in[0].numpy()
    for name, h in VOCODERS.items():
        v = M.Generator(h)
        with torch.no_grad():
            for mod in v.modules():
                if hasattr(mod, "weight_g"):
                    mod.weight_g.mul_(torch.empty_like(mod.weight_g).uniform_(0.5, 1.5))
            wav = v(mel_in)
        v.eval()
        export(v, os.path.join(a.out, name), h)
        g[name + "_wav"] = wav[0, 0].detach().numpy()
        print(name, "params", M.param_count(v), "samples", wav.shape[-1])

    v = M.Vocos(VOCOS)
    with torch.no_grad():  # weights at the scale of a trained model, so every path matters
        for mod in v.modules():
            if isinstance(mod, (torch.nn.Conv1d, torch.nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.normal_(0, 1 / fan_in ** 0.5)
                mod.bias.normal_(0, 0.1)
            if isinstance(mod, torch.nn.LayerNorm):
                mod.weight.uniform_(0.8, 1.2)
                mod.bias.normal_(0, 0.05)
        for blk in v.backbone.convnext:
            blk.gamma.uniform_(0.2, 1.0)
        v.head.out.bias[:513].add_(-2.0)  # log-magnitudes mostly below 0, a few clipped at 100
        v.head.out.bias[:4].fill_(5.0)
        wav = v(mel_in)
    v.eval()
    export(v, os.path.join(a.out, "tts_vocos"), VOCOS)
    g["tts_vocos_wav"] = wav[0, 0].numpy()
    print("tts_vocos params", M.param_count(v), "samples", wav.shape[-1], "peak", float(wav.abs().max()))

    safet.save(os.path.join(a.out, "tts_golden.safetensors"), {k: np.ascontiguousarray(v) for k, v in g.items()},
               {"seed": a.seed, "maker": "tools/tts/goldens.py"})
    print("wrote", os.path.join(a.out, "tts_golden.safetensors"))


if __name__ == "__main__":
    main()
