package towers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/nn"
)

// Any config.json, bound against the tiny UNet's and VAE's weights, either
// loads or returns an error: no panic, no unbounded allocation.
func FuzzDiffusionConfig(f *testing.F) {
	for _, name := range []string{"unet", "vae"} {
		raw, err := os.ReadFile(filepath.Join(diffusionDir, name, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"block_out_channels":[32,64],"attention_head_dim":[0,3],"layers_per_block":-1}`))
	f.Add([]byte(`{"block_out_channels":[],"norm_num_groups":-32,"latent_channels":4}`))
	f.Add([]byte(`{"attention_head_dim":"x"}`))
	usrc, err := formats.OpenSafetensors(filepath.Join(diffusionDir, "unet", "diffusion_pytorch_model.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	vsrc, err := formats.OpenSafetensors(filepath.Join(diffusionDir, "vae", "diffusion_pytorch_model.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var uc UNetConfig
		if json.Unmarshal(raw, &uc) == nil {
			for _, c := range uc.BlockOutChannels {
				if c > 4096 {
					return // a real but enormous model: binding fails on shapes, not worth the time
				}
			}
			if u, err := LoadUNet(nn.NewBinder(usrc), uc); err == nil && u == nil {
				t.Fatal("nil unet without error")
			}
		}
		var vc VAEConfig
		if json.Unmarshal(raw, &vc) == nil {
			if v, err := LoadVAE(nn.NewBinder(vsrc), vc); err == nil && v == nil {
				t.Fatal("nil vae without error")
			}
		}
	})
}
