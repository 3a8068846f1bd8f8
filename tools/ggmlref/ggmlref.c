// ggmlref writes llama.cpp's own numbers for Loom's quantization tests: for
// each FILE:TENSOR:ROWS argument it takes the first ROWS rows of TENSOR in
// the GGUF FILE (as llama-quantize wrote them), widens them with ggml's
// to_float, and dots each with a fixed activation row through ggml-cpu's
// vec_dot (the activation quantized by the CPU backend's from_float to the
// type's vec_dot_type, as llama.cpp runs a matmul). It writes one GGUF with,
// per weight type T: "T.w" (the raw rows, type T), "T.x" (the activations,
// f32), "T.deq" (the widened rows, f32) and "T.dot" (one dot per row, f32).
//
// Built and run by make-fixtures.sh against a llama.cpp build; never linked
// into Loom.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "ggml-cpu.h"
#include "gguf.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: ggmlref OUT.gguf FILE:TENSOR:ROWS...\n");
        return 2;
    }
    ggml_cpu_init();
    struct ggml_init_params op = {.mem_size = 64 << 20, .mem_buffer = NULL, .no_alloc = false};
    struct ggml_context *out = ggml_init(op);
    struct gguf_context *gout = gguf_init_empty();
    gguf_set_val_str(gout, "general.architecture", "ggmlref");

    for (int a = 2; a < argc; a++) {
        char spec[1024];
        snprintf(spec, sizeof spec, "%s", argv[a]);
        char *file = strtok(spec, ":"), *name = strtok(NULL, ":"), *rows_s = strtok(NULL, ":");
        if (!file || !name || !rows_s) {
            fprintf(stderr, "bad spec %s\n", argv[a]);
            return 2;
        }
        struct ggml_context *ctx = NULL;
        struct gguf_init_params ip = {.no_alloc = false, .ctx = &ctx};
        struct gguf_context *g = gguf_init_from_file(file, ip);
        if (!g) {
            fprintf(stderr, "cannot read %s\n", file);
            return 1;
        }
        struct ggml_tensor *t = ggml_get_tensor(ctx, name);
        if (!t) {
            fprintf(stderr, "%s: no tensor %s\n", file, name);
            return 1;
        }
        const enum ggml_type type = t->type;
        const char *tn = ggml_type_name(type);
        const int64_t k = t->ne[0];
        const int64_t rows = atoll(rows_s);
        const size_t rb = ggml_row_size(type, k);
        const struct ggml_type_traits *tr = ggml_get_type_traits(type);
        const struct ggml_type_traits_cpu *cpu = ggml_get_type_traits_cpu(type);
        const struct ggml_type_traits_cpu *act = ggml_get_type_traits_cpu(cpu->vec_dot_type);

        char nm[128];
        snprintf(nm, sizeof nm, "%s.w", tn);
        struct ggml_tensor *w = ggml_new_tensor_2d(out, type, k, rows);
        ggml_set_name(w, nm);
        memcpy(w->data, t->data, rows * rb);

        snprintf(nm, sizeof nm, "%s.x", tn);
        struct ggml_tensor *x = ggml_new_tensor_1d(out, GGML_TYPE_F32, k);
        ggml_set_name(x, nm);
        float *xv = (float *)x->data;
        for (int64_t i = 0; i < k; i++) {
            xv[i] = sinf(0.37f * (float)i + 1.0f) * (1.0f + 0.1f * (float)(i % 7));
        }

        snprintf(nm, sizeof nm, "%s.deq", tn);
        struct ggml_tensor *deq = ggml_new_tensor_2d(out, GGML_TYPE_F32, k, rows);
        ggml_set_name(deq, nm);
        tr->to_float(w->data, (float *)deq->data, rows * k);

        snprintf(nm, sizeof nm, "%s.dot", tn);
        struct ggml_tensor *dot = ggml_new_tensor_1d(out, GGML_TYPE_F32, rows);
        ggml_set_name(dot, nm);
        void *xq = malloc(ggml_row_size(cpu->vec_dot_type, k));
        act->from_float(xv, xq, k);
        for (int64_t r = 0; r < rows; r++) {
            cpu->vec_dot((int)k, (float *)dot->data + r, 0, (const char *)w->data + r * rb, 0, xq, 0, 1);
        }
        free(xq);

        gguf_add_tensor(gout, w);
        gguf_add_tensor(gout, x);
        gguf_add_tensor(gout, deq);
        gguf_add_tensor(gout, dot);
        fprintf(stderr, "%s %s: %lld rows of %lld, vec_dot_type %s\n", file, tn, (long long)rows, (long long)k,
                ggml_type_name(cpu->vec_dot_type));
        gguf_free(g);
        ggml_free(ctx);
    }
    if (!gguf_write_to_file(gout, argv[1], false)) {
        fprintf(stderr, "cannot write %s\n", argv[1]);
        return 1;
    }
    gguf_free(gout);
    ggml_free(out);
    return 0;
}
