//! Tokenizers built from GGUF metadata (`tokenizer.ggml.*`): SentencePiece-style (`llama`)
//! and byte-level BPE (`gpt2`), matching llama.cpp's ids. (Being implemented.)
