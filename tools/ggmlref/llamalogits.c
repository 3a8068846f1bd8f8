// llamalogits runs a GGUF model through llama.cpp on fixed token ids (no
// tokenizer: the model may say tokenizer.ggml.model = "no_vocab") and writes
// the logits of every position as an f32 GGUF tensor "logits" (positions,
// vocab) beside the ids "tokens" (i32), for Loom's decoder tests. With -g N
// it then decodes N more tokens greedily (argmax, one llama_decode each):
// "tokens" holds the prompt and the N greedy tokens, "logits" a row for
// each, and llamalogits.prompt the prompt's length.
//
//   llamalogits MODEL.gguf OUT.gguf [-g N] ID...
//
// With -e instead (an encoder such as BERT), it encodes the ids as one
// sequence and writes the model's pooled embedding (llama_get_embeddings_seq,
// its own pooling type, not normalised) as "embedding" (n_embd) beside
// "tokens":
//
//   llamalogits MODEL.gguf OUT.gguf -e ID...
//
// Built and run by make-fixtures.sh against a llama.cpp build; never linked
// into Loom.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "gguf.h"
#include "llama.h"

// embed is the -e mode: the pooled embedding of ids toks[0..n).
static int embed(const char *path, const char *outPath, const llama_token *toks, int n) {
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.use_mmap = false;
    mp.use_extra_bufts = false;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) {
        fprintf(stderr, "cannot load %s\n", path);
        return 1;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 64;
    cp.n_ubatch = 64;
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    cp.embeddings = true;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "cannot make a context\n");
        return 1;
    }
    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = toks[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = n;
    if (llama_encode(ctx, b) != 0) {
        fprintf(stderr, "encode failed\n");
        return 1;
    }
    const int dim = llama_model_n_embd(model);
    const float *e = llama_get_embeddings_seq(ctx, 0);
    if (!e) {
        fprintf(stderr, "no pooled embedding\n");
        return 1;
    }
    struct ggml_init_params op = {.mem_size = (size_t)(dim + n) * 4 + (1 << 20), .mem_buffer = NULL, .no_alloc = false};
    struct ggml_context *out = ggml_init(op);
    struct ggml_tensor *et = ggml_new_tensor_1d(out, GGML_TYPE_F32, dim);
    ggml_set_name(et, "embedding");
    memcpy(et->data, e, dim * sizeof(float));
    struct ggml_tensor *tt = ggml_new_tensor_1d(out, GGML_TYPE_I32, n);
    ggml_set_name(tt, "tokens");
    memcpy(tt->data, toks, n * sizeof(int32_t));
    struct gguf_context *g = gguf_init_empty();
    gguf_set_val_str(g, "general.architecture", "llamalogits");
    gguf_add_tensor(g, et);
    gguf_add_tensor(g, tt);
    if (!gguf_write_to_file(g, outPath, false)) {
        fprintf(stderr, "cannot write %s\n", outPath);
        return 1;
    }
    fprintf(stderr, "%s: pooled embedding of %d tokens, %d floats\n", path, n, dim);
    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 4 && strcmp(argv[3], "-e") == 0) {
        const int n = argc - 4;
        llama_token *toks = calloc(n, sizeof *toks);
        for (int i = 0; i < n; i++) {
            toks[i] = atoi(argv[4 + i]);
        }
        return embed(argv[1], argv[2], toks, n);
    }
    int first = 3, greedy = 0;
    if (argc > 4 && strcmp(argv[3], "-g") == 0) {
        greedy = atoi(argv[4]);
        first = 5;
    }
    if (argc <= first || greedy < 0 || greedy > 48) {
        fprintf(stderr, "usage: llamalogits MODEL.gguf OUT.gguf [-g N] ID...\n");
        return 2;
    }
    const int n = argc - first, total = n + greedy;
    llama_token *toks = calloc(total, sizeof *toks);
    for (int i = 0; i < n; i++) {
        toks[i] = atoi(argv[first + i]);
    }
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.use_mmap = false;
    // No weight repacking: the repacked GEMMs quantize activations their own
    // way; without them every matmul is ggml's vec_dot on q8 rows, the
    // reference Loom's kernels are checked against (LLAMALOGITS_REPACK=1
    // keeps repacking, to compare).
    mp.use_extra_bufts = getenv("LLAMALOGITS_REPACK") != NULL;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 64;
    cp.n_ubatch = 64;
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    // Attention in f32 with an f32 KV cache, as Loom computes it: llama.cpp's
    // default flash attention rounds V (and the cache) to f16, ~4e-4
    // relative, and every q8 quantization of activations after it then rounds
    // a few percent of elements the other way, which compounds to ~1e-4 in
    // the logits of a quantized model (f32 models hide it: 1e-7).
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "cannot make a context\n");
        return 1;
    }
    const int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = toks[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = n;
    if (llama_decode(ctx, b) != 0) {
        fprintf(stderr, "decode failed\n");
        return 1;
    }
    struct ggml_init_params op = {.mem_size = (size_t)total * vocab * 4 + (1 << 20), .mem_buffer = NULL, .no_alloc = false};
    struct ggml_context *out = ggml_init(op);
    struct ggml_tensor *lg = ggml_new_tensor_2d(out, GGML_TYPE_F32, vocab, total);
    ggml_set_name(lg, "logits");
    for (int i = 0; i < n; i++) {
        memcpy((float *)lg->data + (size_t)i * vocab, llama_get_logits_ith(ctx, i), vocab * sizeof(float));
    }
    for (int i = n; i < total; i++) {
        const float *prev = (const float *)lg->data + (size_t)(i - 1) * vocab;
        int best = 0;
        for (int v = 1; v < vocab; v++) {
            if (prev[v] > prev[best]) {
                best = v;
            }
        }
        toks[i] = best;
        struct llama_batch one = llama_batch_get_one(&toks[i], 1);
        if (llama_decode(ctx, one) != 0) {
            fprintf(stderr, "decode of greedy token %d failed\n", i - n);
            return 1;
        }
        memcpy((float *)lg->data + (size_t)i * vocab, llama_get_logits_ith(ctx, -1), vocab * sizeof(float));
    }
    struct ggml_tensor *tt = ggml_new_tensor_1d(out, GGML_TYPE_I32, total);
    ggml_set_name(tt, "tokens");
    memcpy(tt->data, toks, total * sizeof(int32_t));
    struct gguf_context *g = gguf_init_empty();
    gguf_set_val_str(g, "general.architecture", "llamalogits");
    gguf_set_val_u32(g, "llamalogits.prompt", n);
    gguf_add_tensor(g, lg);
    gguf_add_tensor(g, tt);
    if (!gguf_write_to_file(g, argv[2], false)) {
        fprintf(stderr, "cannot write %s\n", argv[2]);
        return 1;
    }
    fprintf(stderr, "%s: %d positions (%d greedy) × %d logits\n", argv[1], total, greedy, vocab);
    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
