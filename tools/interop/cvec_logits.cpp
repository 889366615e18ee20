// rv-cvec-logits: next-token logits from llama.cpp for given token ids, with the control vectors that
// llama-cli's own flags name (--control-vector, --control-vector-scaled F:S, --control-vector-layer-range).
// Its flags are llama.cpp's (parsed by common_params_parse), plus --ids "1,2,3;4,5" (one prompt per ';').
// The model, context and control vectors are set up by common_init_from_params, as llama-cli does.
// Prints one JSON line per prompt: {"ids": [...], "logits": [...]} (the last position, float32 as decimal).
#include "arg.h"
#include "common.h"
#include "llama.h"
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

static std::vector<std::vector<llama_token>> parse_ids(const std::string & s) {
    std::vector<std::vector<llama_token>> out(1);
    std::string num;
    auto flush = [&]() { if (!num.empty()) { out.back().push_back(std::stoi(num)); num.clear(); } };
    for (char c : s) {
        if (c == ',') flush();
        else if (c == ';') { flush(); out.emplace_back(); }
        else if (c != ' ') num += c;
    }
    flush();
    return out;
}

int main(int argc, char ** argv) {
    std::string ids_arg;
    std::vector<char *> rest = {argv[0]};
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--ids") == 0 && i + 1 < argc) ids_arg = argv[++i];
        else rest.push_back(argv[i]);
    }
    if (ids_arg.empty()) { fprintf(stderr, "rv-cvec-logits: --ids \"1,2,3;4,5\" is required\n"); return 2; }
    common_params params;
    if (!common_params_parse((int) rest.size(), rest.data(), params, LLAMA_EXAMPLE_COMPLETION)) return 2;
    common_init();
    llama_backend_init();
    auto init = common_init_from_params(params);
    llama_model * model = init->model();
    llama_context * ctx = init->context();
    if (!model || !ctx) { fprintf(stderr, "rv-cvec-logits: the model or a control vector failed to load\n"); return 1; }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    for (auto & ids : parse_ids(ids_arg)) {
        llama_memory_clear(llama_get_memory(ctx), true);
        if (llama_decode(ctx, llama_batch_get_one(ids.data(), (int) ids.size())) != 0) {
            fprintf(stderr, "rv-cvec-logits: llama_decode failed\n"); return 1;
        }
        const float * lg = llama_get_logits_ith(ctx, -1);
        printf("{\"ids\": [");
        for (size_t i = 0; i < ids.size(); i++) printf(i ? ", %d" : "%d", ids[i]);
        printf("], \"logits\": [");
        for (int i = 0; i < n_vocab; i++) printf(i ? ", %.9g" : "%.9g", lg[i]);
        printf("]}\n");
    }
    llama_backend_free();
    return 0;
}
