# Shared by the tools (sourced, not run): where the default model and the shared test data
# live, by the same rules as the CLI (`ferrite::default_model_path`) and tests/util/mod.rs.
# shellcheck shell=bash

# The default model: $FERRITE_MODEL, else ${FERRITE_MODEL_DIR:-~/.cache/ferrite/models}/...
default_model() {
    echo "${FERRITE_MODEL:-${FERRITE_MODEL_DIR:-$HOME/.cache/ferrite/models}/gemma-3-270m-q4_k_m.gguf}"
}

# The shared test data of the checkout at $1: $FERRITE_SHARED when set, else ../shared beside
# the checkout, else /work/shared.
shared_dir() {
    if [[ -n ${FERRITE_SHARED:-} ]]; then
        echo "$FERRITE_SHARED"
    elif [[ -d $1/../shared/synth ]]; then
        (cd "$1/../shared" && pwd)
    else
        echo /work/shared
    fi
}
