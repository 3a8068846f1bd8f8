//go:build amd64 && !noasm

package kernels

// packQ8_0x16 and packQ4_0x16 are packPanelRef for q8_0 and q4_0 (the
// same bytes): rows (≤ 16) weight rows of nb blocks from w, rb bytes apart.
//
//go:noescape
func packQ8_0x16(dst, w *byte, rb, nb, rows int)

//go:noescape
func packQ4_0x16(dst, w *byte, rb, nb, rows int)

// qgemmQ4_0x8VNNI and qgemmQ8_0x8VNNI are qgemmRef with shift 3 and 7: a
// packed panel p against eight q8s activation rows x, x+xs, …, x+7·xs, into
// out (8 rows × 16 columns). Integer sums are exact; the float sums are
// fused multiply-adds.
//
//go:noescape
func qgemmQ4_0x8VNNI(p, x *byte, xs, nb int, out *[qgActRows * qgRows]float32)

//go:noescape
func qgemmQ8_0x8VNNI(p, x *byte, xs, nb int, out *[qgActRows * qgRows]float32)

// packQ4_Kx16, packQ5_Kx16 and packQ6_Kx16 are packPanelKRef for their
// types (the same bytes).
//
//go:noescape
func packQ4_Kx16(dst, w *byte, rb, nb, rows int)

//go:noescape
func packQ5_Kx16(dst, w *byte, rb, nb, rows int)

//go:noescape
func packQ6_Kx16(dst, w *byte, rb, nb, rows int)

// qgemmK8x8VNNI (q4_K, q5_K: eight scale groups, mins) and qgemmK16x8VNNI
// (q6_K: sixteen groups, symmetric) are qgemmKRef: a K panel against eight
// q8_K activation rows x, x+xs, …, x+7·xs, into out. Integer sums are
// exact; the float sums are fused multiply-adds.
//
//go:noescape
func qgemmK8x8VNNI(p, x *byte, xs, nb int, out *[qgActRows * qgRows]float32)

//go:noescape
func qgemmK16x8VNNI(p, x *byte, xs, nb int, out *[qgActRows * qgRows]float32)

// packQ4_0x16Full and packQ8_0x16Full are packQ4_0x16 and packQ8_0x16 for
// a panel of all sixteen rows, with loads and shuffles instead of gathers.
//
//go:noescape
func packQ4_0x16Full(dst, w *byte, rb, nb, rows int)

//go:noescape
func packQ8_0x16Full(dst, w *byte, rb, nb, rows int)

// packQ4_Kx16Full is packQ4_Kx16 for a full panel, without gathers for the
// levels.
//
//go:noescape
func packQ4_Kx16Full(dst, w *byte, rb, nb, rows int)

// packQ6_Kx16Full is packQ6_Kx16 for a full panel, without gathers for the
// levels.
//
//go:noescape
func packQ6_Kx16Full(dst, w *byte, rb, nb, rows int)

// packQ5_Kx16Full is packQ5_Kx16 for a full panel, without gathers for the
// levels.
//
//go:noescape
func packQ5_Kx16Full(dst, w *byte, rb, nb, rows int)
