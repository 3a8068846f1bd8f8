//go:build amd64 && !noasm

package kernels

// dotQ4_0R8VNNI is rows8Q4_0R8Ref over nb ≥ 1 blocks and groups ≥ 1 groups
// (AVX-512 F/BW/VL and VNNI): the same exact integer lane sums, each times
// the same f32 d_w·d_x, added to the lane's sum by a fused multiply-add (the
// reference rounds the product first), lane 0 plus lane 1 at the end.
//
//go:noescape
func dotQ4_0R8VNNI(w, xq *byte, nb int, y *float32, groups int)

// packQ4_0R8x16 is packPanelRef of q4_0 for the sixteen rows of the two
// consecutive q4_0r8 groups at w (nb ≥ 1 blocks each): the same bytes,
// by shuffles of the interleaved rows instead of a transpose.
//
//go:noescape
func packQ4_0R8x16(dst, w *byte, nb int)

// dotQ4_KR8VNNI is rows8Q4_KR8Ref over nb ≥ 1 super-blocks and groups ≥ 1
// groups (AVX-512 F/BW/VL, VBMI and VNNI): the same exact integer lane sums,
// the float steps as fused multiply-adds.
//
//go:noescape
func dotQ4_KR8VNNI(w, xq *byte, nb int, y *float32, groups int)

// dotQ6_KR8VNNI is rows8Q6_KR8Ref over nb ≥ 1 super-blocks and groups ≥ 1
// groups (AVX-512 F/BW/VL, VBMI and VNNI): the same exact integer lane sums,
// the float step a fused multiply-add.
//
//go:noescape
func dotQ6_KR8VNNI(w, xq *byte, nb int, y *float32, groups int)
