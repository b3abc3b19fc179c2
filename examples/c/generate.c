/*
 * generate.c: greedy generation through the ferrite C API.
 *
 *   generate [MODEL.gguf] [PROMPT] [N_TOKENS]
 *
 * MODEL (or an empty argument) defaults to the model installed by tools/fetch-model.sh
 * ($HOME/.cache/ferrite/models/gemma-3-270m-q4_k_m.gguf), PROMPT to "The capital of France is",
 * N_TOKENS to 32. Prints the generated text as it comes (whole UTF-8 characters only), then a
 * newline and the generated token ids on one line: "ids: 506 5279 ...".
 *
 * Build (see tools/c-example.sh):
 *   cargo build --release --lib --no-default-features
 *   cc -std=c11 -Wall -Wextra -Werror -Iinclude examples/c/generate.c \
 *      target/release/libferrite.a -lpthread -ldl -lm -o generate
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrite.h"

#define MAX_IDS 4096

/* What the callback collects besides printing. */
struct collected {
    int32_t ids[MAX_IDS];
    size_t n;
};

/* Called with each generated token's text; returning nonzero would stop the generation. */
static int32_t on_piece(const char *text, size_t len, int32_t token, void *user_data) {
    struct collected *c = user_data;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (token != FERRITE_TOKEN_NONE && c->n < MAX_IDS) {
        c->ids[c->n++] = token;
    }
    return 0;
}

static int fail(const char *what, ferrite_status st) {
    fprintf(stderr, "error: %s: %s (%s)\n", what, ferrite_last_error(), ferrite_status_name(st));
    return 1;
}

int main(int argc, char **argv) {
    char default_path[4096];
    const char *path = argc > 1 ? argv[1] : "";
    if (path[0] == '\0') {
        const char *home = getenv("HOME");
        int n = snprintf(default_path, sizeof default_path,
                         "%s/.cache/ferrite/models/gemma-3-270m-q4_k_m.gguf", home ? home : ".");
        if (n < 0 || (size_t)n >= sizeof default_path) {
            fprintf(stderr, "error: $HOME is too long\n");
            return 1;
        }
        path = default_path;
    }
    const char *prompt = argc > 2 ? argv[2] : "The capital of France is";
    size_t n_tokens = 32;
    if (argc > 3) {
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(argv[3], &end, 10);
        if (errno != 0 || end == argv[3] || *end != '\0' || v > MAX_IDS) {
            fprintf(stderr, "error: N_TOKENS must be a number in 0..%d, got '%s'\n", MAX_IDS,
                    argv[3]);
            return 2;
        }
        n_tokens = (size_t)v;
    }

    ferrite_model *model = NULL;
    ferrite_status st = ferrite_model_load(path, ferrite_model_default_params(), &model);
    if (st != FERRITE_OK) {
        return fail("loading the model", st);
    }

    ferrite_session_params sp = ferrite_session_default_params();
    sp.temperature = 0.0f; /* greedy: the argmax, ties to the lowest id */
    ferrite_session *session = NULL;
    st = ferrite_session_new(model, sp, &session);
    if (st != FERRITE_OK) {
        ferrite_model_free(model);
        return fail("creating the session", st);
    }

    static struct collected c; /* static: 16 KB is more than a polite stack frame */
    size_t n_generated = 0;
    st = ferrite_generate(session, prompt, n_tokens, on_piece, &c, &n_generated);
    printf("\n");
    int rc = 0;
    if (st != FERRITE_OK) {
        rc = fail("generating", st);
    } else {
        printf("ids:");
        for (size_t i = 0; i < c.n; i++) {
            printf(" %d", (int)c.ids[i]);
        }
        printf("\n");
        fprintf(stderr, "generated %zu tokens; the session holds %zu of %zu positions\n",
                n_generated, ferrite_n_past(session), ferrite_n_ctx(session));
    }

    ferrite_session_free(session);
    st = ferrite_model_free(model);
    if (st != FERRITE_OK) {
        rc = fail("freeing the model", st);
    }
    return rc;
}
