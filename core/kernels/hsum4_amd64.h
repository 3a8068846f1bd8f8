// Shared by the four-row dot kernels (attention_f16_amd64.s,
// attention_q8_amd64.s): the sums of Z0…Z3 (16 lanes each) stored to four
// floats at dst. 16 lanes to 8, 8 to 4 per row, then a 4×4 transpose-add
// (two HADD rounds) leaves row r's sum in lane r. Clobbers Y8.
#define HSUM4_STORE(dst) \
	VEXTRACTF64X4 $1, Z0, Y8 \
	VADDPS        Y8, Y0, Y0 \
	VEXTRACTF64X4 $1, Z1, Y8 \
	VADDPS        Y8, Y1, Y1 \
	VEXTRACTF64X4 $1, Z2, Y8 \
	VADDPS        Y8, Y2, Y2 \
	VEXTRACTF64X4 $1, Z3, Y8 \
	VADDPS        Y8, Y3, Y3 \
	VEXTRACTF128  $1, Y0, X8 \
	VADDPS        X8, X0, X0 \
	VEXTRACTF128  $1, Y1, X8 \
	VADDPS        X8, X1, X1 \
	VEXTRACTF128  $1, Y2, X8 \
	VADDPS        X8, X2, X2 \
	VEXTRACTF128  $1, Y3, X8 \
	VADDPS        X8, X3, X3 \
	VHADDPS       X1, X0, X0 \
	VHADDPS       X3, X2, X2 \
	VHADDPS       X2, X0, X0 \
	VMOVUPS       X0, dst
