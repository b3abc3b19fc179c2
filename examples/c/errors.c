/*
 * errors.c: the error paths of the ferrite C API, checked one by one.
 *
 *   errors [MODEL.gguf]     (default, or an empty argument: the installed default model)
 *
 * NULL handles and buffers, a missing file, a file that is not GGUF, text that is not UTF-8,
 * out-of-range ids and parameters, buffers that are too small, a full context, and freeing a
 * model that still has a session: each must give its status code and a message naming the
 * argument or file at fault, and leave the state the header documents. Prints one line per
 * failed check and a summary; exits 1 if any check failed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrite.h"

static int n_checks = 0;
static int n_failed = 0;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        n_checks++;                                                                    \
        if (!(cond)) {                                                                 \
            n_failed++;                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                              \
    } while (0)

/* The call returned `want` and the last error message contains `needle`. */
#define CHECK_STATUS(call, want, needle)                                               \
    do {                                                                               \
        ferrite_status st_ = (call);                                                   \
        const char *msg_ = ferrite_last_error();                                       \
        n_checks++;                                                                    \
        if (st_ != (want) || (st_ != FERRITE_OK && strstr(msg_, (needle)) == NULL)) {  \
            n_failed++;                                                                \
            fprintf(stderr, "%s:%d: %s\n  gave %s \"%s\", expected %s with \"%s\"\n",  \
                    __FILE__, __LINE__, #call, ferrite_status_name(st_), msg_,         \
                    ferrite_status_name(want), (needle));                              \
        }                                                                              \
    } while (0)

static int32_t stop_after_two(const char *text, size_t len, int32_t token, void *user_data) {
    (void)text;
    (void)len;
    (void)token;
    int *calls = user_data;
    return ++*calls >= 2;
}

int main(int argc, char **argv) {
    char default_path[4096];
    const char *path = argc > 1 ? argv[1] : "";
    if (path[0] == '\0') {
        const char *home = getenv("HOME");
        snprintf(default_path, sizeof default_path,
                 "%s/.cache/ferrite/models/gemma-3-270m-q4_k_m.gguf", home ? home : ".");
        path = default_path;
    }
    ferrite_model_params mp = ferrite_model_default_params();

    /* --- status names, the message before any failure ------------------------------------ */
    CHECK(strcmp(ferrite_last_error(), "") == 0);
    CHECK(strcmp(ferrite_status_name(FERRITE_OK), "FERRITE_OK") == 0);
    CHECK(strcmp(ferrite_status_name(FERRITE_ERR_BUFFER_TOO_SMALL),
                 "FERRITE_ERR_BUFFER_TOO_SMALL") == 0);
    CHECK(strcmp(ferrite_status_name(12345), "FERRITE_UNKNOWN_STATUS") == 0);
    CHECK(strcmp(ferrite_status_name(-1), "FERRITE_UNKNOWN_STATUS") == 0);
    CHECK(strlen(ferrite_version()) > 0);

    /* --- loading -------------------------------------------------------------------------- */
    ferrite_model *model = (ferrite_model *)&n_checks; /* garbage: must be overwritten */
    CHECK_STATUS(ferrite_model_load(NULL, mp, &model), FERRITE_ERR_INVALID_ARGUMENT, "path");
    CHECK(model == NULL);
    CHECK_STATUS(ferrite_model_load(path, mp, NULL), FERRITE_ERR_INVALID_ARGUMENT,
                 "model_out");
    CHECK_STATUS(ferrite_model_load("", mp, &model), FERRITE_ERR_INVALID_ARGUMENT, "empty");
    const char *missing = "/nonexistent/dir/missing-model.gguf";
    CHECK_STATUS(ferrite_model_load(missing, mp, &model), FERRITE_ERR_IO, missing);
    CHECK(model == NULL);
    /* This program itself is a file, but not a GGUF one. */
    CHECK_STATUS(ferrite_model_load(argv[0], mp, &model), FERRITE_ERR_FORMAT, argv[0]);
    CHECK(model == NULL);
    /* The message stays until the next failure (errno-like). */
    CHECK(strstr(ferrite_last_error(), argv[0]) != NULL);

    /* --- model queries with NULL ------------------------------------------------------- */
    CHECK(ferrite_n_vocab(NULL) == 0);
    CHECK(strstr(ferrite_last_error(), "model is NULL") != NULL);
    CHECK(ferrite_n_ctx_train(NULL) == 0);
    CHECK(ferrite_token_bos(NULL) == FERRITE_TOKEN_NONE);
    CHECK(ferrite_token_eos(NULL) == FERRITE_TOKEN_NONE);
    CHECK(!ferrite_token_is_eog(NULL, 1));
    CHECK(ferrite_n_ctx(NULL) == 0);
    CHECK(ferrite_n_past(NULL) == 0);
    CHECK(ferrite_session_model(NULL) == NULL);
    CHECK_STATUS(ferrite_model_free(NULL), FERRITE_OK, "");
    ferrite_session_free(NULL);

    /* --- the real model ----------------------------------------------------------------- */
    CHECK_STATUS(ferrite_model_load(path, mp, &model), FERRITE_OK, "");
    if (model == NULL) {
        fprintf(stderr, "errors.c: cannot load %s: %s; skipping the rest\n", path,
                ferrite_last_error());
        fprintf(stderr, "errors.c: %d of %d checks failed\n", n_failed + 1, n_checks);
        return 1;
    }
    size_t n_vocab = ferrite_n_vocab(model);
    CHECK(n_vocab > 0);
    int32_t bos = ferrite_token_bos(model);
    int32_t eos = ferrite_token_eos(model);
    CHECK(bos >= 0 && (size_t)bos < n_vocab);
    CHECK(eos >= 0 && (size_t)eos < n_vocab);
    CHECK(ferrite_token_is_eog(model, eos));
    CHECK(!ferrite_token_is_eog(model, bos));
    CHECK(!ferrite_token_is_eog(model, -5));

    /* --- tokenize ------------------------------------------------------------------------- */
    const char *text = "The capital of France is";
    size_t n = 12345;
    CHECK_STATUS(ferrite_tokenize(NULL, text, true, true, NULL, 0, &n),
                 FERRITE_ERR_INVALID_ARGUMENT, "model");
    CHECK(n == 0);
    CHECK_STATUS(ferrite_tokenize(model, NULL, true, true, NULL, 0, &n),
                 FERRITE_ERR_INVALID_ARGUMENT, "text");
    CHECK_STATUS(ferrite_tokenize(model, text, true, true, NULL, 0, NULL),
                 FERRITE_ERR_INVALID_ARGUMENT, "n_out");
    CHECK_STATUS(ferrite_tokenize(model, text, true, true, NULL, 8, &n),
                 FERRITE_ERR_INVALID_ARGUMENT, "tokens");
    CHECK_STATUS(ferrite_tokenize(model, "caf\xc3(\xff", true, true, NULL, 0, &n),
                 FERRITE_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK(strstr(ferrite_last_error(), "offset 3") != NULL);
    /* Size query, then a buffer one too small (left untouched), then the exact size. */
    size_t needed = 0;
    CHECK_STATUS(ferrite_tokenize(model, text, true, true, NULL, 0, &needed),
                 FERRITE_ERR_BUFFER_TOO_SMALL, "too small");
    CHECK(needed == 6); /* <bos> The capital of France is */
    int32_t ids[64];
    for (int i = 0; i < 64; i++) {
        ids[i] = -7;
    }
    n = 0;
    CHECK_STATUS(ferrite_tokenize(model, text, true, true, ids, needed - 1, &n),
                 FERRITE_ERR_BUFFER_TOO_SMALL, "too small");
    CHECK(n == needed);
    CHECK(ids[0] == -7);
    CHECK_STATUS(ferrite_tokenize(model, text, true, true, ids, needed, &n), FERRITE_OK, "");
    CHECK(n == needed && ids[0] == bos);
    CHECK_STATUS(ferrite_tokenize(model, text, false, true, ids, 64, &n), FERRITE_OK, "");
    CHECK(n == needed - 1);

    /* --- token to piece ------------------------------------------------------------------- */
    char piece[64];
    CHECK_STATUS(ferrite_token_to_piece(model, ids[1], false, piece, sizeof piece, &n),
                 FERRITE_OK, "");
    CHECK(n == strlen(" capital") && memcmp(piece, " capital", n) == 0);
    CHECK_STATUS(ferrite_token_to_piece(model, ids[1], false, piece, 3, &n),
                 FERRITE_ERR_BUFFER_TOO_SMALL, "too small");
    CHECK(n == strlen(" capital"));
    CHECK_STATUS(ferrite_token_to_piece(model, ids[1], false, NULL, 0, &n),
                 FERRITE_ERR_BUFFER_TOO_SMALL, "too small");
    CHECK_STATUS(ferrite_token_to_piece(model, ids[1], false, NULL, 10, &n),
                 FERRITE_ERR_INVALID_ARGUMENT, "buf");
    CHECK_STATUS(ferrite_token_to_piece(model, (int32_t)n_vocab, false, piece, 64, &n),
                 FERRITE_ERR_INVALID_ARGUMENT, "out of range");
    CHECK_STATUS(ferrite_token_to_piece(model, -1, false, piece, 64, &n),
                 FERRITE_ERR_INVALID_ARGUMENT, "token -1");
    /* A control token: empty unless special. */
    CHECK_STATUS(ferrite_token_to_piece(model, bos, false, piece, 64, &n), FERRITE_OK, "");
    CHECK(n == 0);
    CHECK_STATUS(ferrite_token_to_piece(model, bos, true, piece, 64, &n), FERRITE_OK, "");
    CHECK(n == strlen("<bos>") && memcmp(piece, "<bos>", n) == 0);

    /* --- session parameters ------------------------------------------------------------- */
    ferrite_session *s = (ferrite_session *)&n_checks;
    ferrite_session_params sp = ferrite_session_default_params();
    sp.n_ctx = 8;
    sp.n_threads = 1;
    sp.temperature = 0.0f;
    CHECK_STATUS(ferrite_session_new(NULL, sp, &s), FERRITE_ERR_INVALID_ARGUMENT, "model");
    CHECK(s == NULL);
    CHECK_STATUS(ferrite_session_new(model, sp, NULL), FERRITE_ERR_INVALID_ARGUMENT,
                 "session_out");
    ferrite_session_params bad = sp;
    bad.kv_type = 7;
    CHECK_STATUS(ferrite_session_new(model, bad, &s), FERRITE_ERR_INVALID_ARGUMENT, "kv_type");
    bad = sp;
    bad.temperature = NAN;
    CHECK_STATUS(ferrite_session_new(model, bad, &s), FERRITE_ERR_INVALID_ARGUMENT,
                 "temperature");
    bad = sp;
    bad.top_p = 0.0f;
    CHECK_STATUS(ferrite_session_new(model, bad, &s), FERRITE_ERR_INVALID_ARGUMENT, "top_p");
    bad = sp;
    bad.n_threads = 1000;
    CHECK_STATUS(ferrite_session_new(model, bad, &s), FERRITE_ERR_INVALID_ARGUMENT, "threads");
    bad = sp;
    bad.repeat_last_n = 0xFFFFFFFFu;
    CHECK_STATUS(ferrite_session_new(model, bad, &s), FERRITE_ERR_INVALID_ARGUMENT,
                 "repeat_last_n");
    CHECK(s == NULL);
    CHECK_STATUS(ferrite_session_new(model, sp, &s), FERRITE_OK, "");
    if (s == NULL) {
        fprintf(stderr, "errors.c: %d of %d checks failed\n", n_failed + 1, n_checks);
        return 1;
    }
    CHECK(ferrite_n_ctx(s) == 8 && ferrite_n_past(s) == 0);
    CHECK(ferrite_session_model(s) == model);

    /* --- evaluation, logits, sampling ----------------------------------------------------- */
    const float *logits = (const float *)&n_checks;
    size_t nv = 99;
    int32_t tok = 0;
    CHECK_STATUS(ferrite_get_logits(s, &logits, &nv), FERRITE_ERR_NO_LOGITS, "no logits");
    CHECK(logits == NULL && nv == 0);
    CHECK_STATUS(ferrite_sample(s, &tok), FERRITE_ERR_NO_LOGITS, "no logits");
    CHECK(tok == FERRITE_TOKEN_NONE);
    CHECK_STATUS(ferrite_sample(s, NULL), FERRITE_ERR_INVALID_ARGUMENT, "token_out");
    CHECK_STATUS(ferrite_sample(NULL, &tok), FERRITE_ERR_INVALID_ARGUMENT, "session");
    CHECK_STATUS(ferrite_get_logits(NULL, &logits, &nv), FERRITE_ERR_INVALID_ARGUMENT,
                 "session");
    CHECK_STATUS(ferrite_get_logits(s, NULL, &nv), FERRITE_ERR_INVALID_ARGUMENT, "logits_out");
    CHECK_STATUS(ferrite_eval(NULL, ids, 1), FERRITE_ERR_INVALID_ARGUMENT, "session");
    CHECK_STATUS(ferrite_eval(s, NULL, 1), FERRITE_ERR_INVALID_ARGUMENT, "tokens");
    CHECK_STATUS(ferrite_eval(s, ids, 0), FERRITE_ERR_INVALID_ARGUMENT, "n_tokens");
    int32_t bad_ids[2] = {bos, (int32_t)n_vocab};
    CHECK_STATUS(ferrite_eval(s, bad_ids, 2), FERRITE_ERR_INVALID_ARGUMENT, "tokens[1]");
    bad_ids[1] = -3;
    CHECK_STATUS(ferrite_eval(s, bad_ids, 2), FERRITE_ERR_INVALID_ARGUMENT, "-3");
    CHECK(ferrite_n_past(s) == 0);
    /* A context of 8: 9 tokens do not fit, and nothing is evaluated. */
    int32_t nine[9];
    for (int i = 0; i < 9; i++) {
        nine[i] = bos;
    }
    CHECK_STATUS(ferrite_eval(s, nine, 9), FERRITE_ERR_CONTEXT_FULL, "n_ctx");
    CHECK(ferrite_n_past(s) == 0);
    CHECK_STATUS(ferrite_get_logits(s, &logits, &nv), FERRITE_ERR_NO_LOGITS, "no logits");
    /* Now a prompt that fits. */
    CHECK_STATUS(ferrite_tokenize(model, text, true, true, ids, 64, &n), FERRITE_OK, "");
    CHECK_STATUS(ferrite_eval(s, ids, n), FERRITE_OK, "");
    CHECK(ferrite_n_past(s) == n);
    CHECK_STATUS(ferrite_get_logits(s, &logits, &nv), FERRITE_OK, "");
    CHECK(logits != NULL && nv == n_vocab);
    /* Greedy sampling is the argmax. */
    int32_t argmax = 0;
    for (size_t i = 1; i < nv; i++) {
        if (logits[i] > logits[argmax]) {
            argmax = (int32_t)i;
        }
    }
    CHECK_STATUS(ferrite_sample(s, &tok), FERRITE_OK, "");
    CHECK(tok == argmax);
    CHECK_STATUS(ferrite_accept(s, tok), FERRITE_OK, "");
    CHECK_STATUS(ferrite_accept(s, -1), FERRITE_ERR_INVALID_ARGUMENT, "token -1");
    CHECK_STATUS(ferrite_accept(NULL, tok), FERRITE_ERR_INVALID_ARGUMENT, "session");
    /* 6 + 3 > 8: refused, state kept. */
    int32_t three[3] = {tok, tok, tok};
    CHECK_STATUS(ferrite_eval(s, three, 3), FERRITE_ERR_CONTEXT_FULL, "context full");
    CHECK(ferrite_n_past(s) == n);
    CHECK_STATUS(ferrite_get_logits(s, &logits, &nv), FERRITE_OK, "");

    /* --- freeing a model with a live session is refused ------------------------------------ */
    CHECK_STATUS(ferrite_model_free(model), FERRITE_ERR_INVALID_ARGUMENT, "live session");

    /* --- reset, generate ------------------------------------------------------------------ */
    CHECK_STATUS(ferrite_session_reset(NULL), FERRITE_ERR_INVALID_ARGUMENT, "session");
    CHECK_STATUS(ferrite_session_reset(s), FERRITE_OK, "");
    CHECK(ferrite_n_past(s) == 0);
    CHECK_STATUS(ferrite_get_logits(s, &logits, &nv), FERRITE_ERR_NO_LOGITS, "no logits");
    size_t n_gen = 77;
    CHECK_STATUS(ferrite_generate(NULL, text, 4, NULL, NULL, &n_gen),
                 FERRITE_ERR_INVALID_ARGUMENT, "session");
    CHECK(n_gen == 0);
    CHECK_STATUS(ferrite_generate(s, NULL, 4, NULL, NULL, &n_gen),
                 FERRITE_ERR_INVALID_ARGUMENT, "prompt");
    CHECK_STATUS(ferrite_generate(s, "\xe2\x82", 4, NULL, NULL, &n_gen),
                 FERRITE_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_STATUS(ferrite_generate(s, "a b c d e f g h i j", 4, NULL, NULL, &n_gen),
                 FERRITE_ERR_CONTEXT_FULL, "context full");
    CHECK(ferrite_n_past(s) == 0);
    /* The callback stops after two tokens. */
    int calls = 0;
    CHECK_STATUS(ferrite_generate(s, text, 100, stop_after_two, &calls, &n_gen), FERRITE_OK,
                 "");
    CHECK(calls == 2 && n_gen == 2);
    CHECK(ferrite_n_past(s) == needed + 1); /* the prompt + the first generated token */
    ferrite_session_reset(s);
    /* The context fills up: 6 prompt tokens + 2 evaluated; the third sampled token is
       delivered and no room is left to evaluate it. */
    CHECK_STATUS(ferrite_generate(s, text, 100, NULL, NULL, &n_gen), FERRITE_ERR_CONTEXT_FULL,
                 "context full");
    CHECK(n_gen == 3 && ferrite_n_past(s) == 8);

    ferrite_session_free(s);
    CHECK_STATUS(ferrite_model_free(model), FERRITE_OK, "");

    if (n_failed > 0) {
        fprintf(stderr, "errors.c: %d of %d checks failed\n", n_failed, n_checks);
        return 1;
    }
    printf("errors.c: all %d checks passed\n", n_checks);
    return 0;
}
