//! Byte-level BPE pre-tokenizers: the text is cut into words before merging, with the same
//! cuts llama.cpp makes for each `tokenizer.ggml.pre`.
//!
//! llama.cpp applies a list of regexes in turn; each one re-splits every piece the previous
//! ones left, and the stretches between its matches stay pieces of their own
//! (`unicode_regex_split`). A few regexes have hand-written splitters in llama.cpp (gpt-2,
//! llama3, qwen2, qwen3.5), whose small departures from the regex are what the ids follow;
//! the others run through std::regex, for `\p{..}` on a "collapsed" text where every non-ASCII
//! codepoint is one byte per category. Every rule below is a direct splitter that reproduces
//! the result of the corresponding llama.cpp path, not a regex engine.
//!
//! Positions are codepoint indices into the text being split.

use std::sync::OnceLock;

use super::unicode::{
    collapsed_category, flags, is_regex_space, LETTER, MARK, NUMBER, PUNCTUATION, WHITESPACE_FLAG,
};

/// The pre-tokenizer families ferrite implements, by llama.cpp's `LLAMA_VOCAB_PRE_TYPE_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PreType {
    /// No `pre` key (e.g. GPT-NeoX conversions) or `default`.
    Default,
    /// gpt-2, mpt, olmo, jais, phi-2, ...
    Gpt2,
    /// llama3 / llama-bpe and friends, dbrx, smaug.
    Llama3,
    Qwen2,
    Qwen35,
    DeepseekLlm,
    DeepseekCoder,
    Falcon,
    /// starcoder, refact, command-r, smollm, codeshell, exaone, minerva.
    Starcoder,
    /// chatglm-bpe and glm4: llama3's regex.
    ChatGlm4,
}

/// llama.cpp's per-`pre` vocabulary flags that go with the pre-tokenizer.
pub(crate) struct PreInfo {
    pub(crate) pre: PreType,
    pub(crate) ignore_merges: bool,
    pub(crate) clean_spaces: bool,
    /// `Some(true)`: the pre-tokenizer sets add_bos (before the metadata may override it).
    pub(crate) add_bos: bool,
    /// The BOS id is cleared (chatglm).
    pub(crate) no_bos: bool,
}

impl PreType {
    /// Maps `tokenizer.ggml.pre` to a pre-tokenizer as `llama_vocab::impl::load` does; `None`
    /// for names ferrite does not implement.
    pub(crate) fn from_name(name: Option<&str>) -> Option<PreInfo> {
        let mut info = PreInfo {
            pre: PreType::Default,
            ignore_merges: false,
            clean_spaces: true,
            add_bos: false,
            no_bos: false,
        };
        let Some(name) = name else {
            return Some(info); // llama.cpp warns and uses 'default'
        };
        match name {
            "default" => {}
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral"
            | "midm-2.0" | "lfm2" | "jina-v5-nano" => {
                info.pre = PreType::Llama3;
                info.ignore_merges = true;
                info.add_bos = true;
            }
            "dbrx" | "smaug-bpe" => info.pre = PreType::Llama3,
            "deepseek-llm" => {
                info.pre = PreType::DeepseekLlm;
                info.clean_spaces = false;
            }
            "deepseek-coder" => {
                info.pre = PreType::DeepseekCoder;
                info.clean_spaces = false;
            }
            "falcon" => info.pre = PreType::Falcon,
            "mpt" | "olmo" | "jais" | "exaone4" => info.pre = PreType::Gpt2,
            "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
            | "jina-v2-de" | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en"
            | "jina-v2-code" | "roberta-bpe" => info.pre = PreType::Gpt2,
            "trillion" | "granite-docling" => {
                info.pre = PreType::Gpt2;
                info.clean_spaces = false;
            }
            "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => {
                info.pre = PreType::Starcoder;
            }
            "command-r" | "smollm" => {
                info.pre = PreType::Starcoder;
                info.clean_spaces = false;
            }
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" => {
                info.pre = PreType::Qwen2;
                info.clean_spaces = false;
            }
            "megrez" | "stablelm2" => info.pre = PreType::Qwen2,
            "hunyuan" | "solar-open" => {
                info.pre = PreType::Qwen2;
                info.clean_spaces = false;
            }
            "qwen35" => {
                info.pre = PreType::Qwen35;
                info.clean_spaces = false;
            }
            "chatglm-bpe" => {
                info.pre = PreType::ChatGlm4;
                info.no_bos = true;
            }
            "glm4" | "glm5" => {
                info.pre = PreType::ChatGlm4;
                info.no_bos = true;
                info.ignore_merges = true;
            }
            _ => return None,
        }
        Some(info)
    }

    /// The rules llama.cpp applies for this type, in order (`llm_tokenizer_bpe`'s
    /// `regex_exprs`).
    fn rules(self) -> &'static [Rule] {
        use Class::*;
        use Rule::*;
        match self {
            PreType::Default => &[
                Run(DefaultPunct),
                Gpt2,
                Run(CollapsedNumber),
                AsciiDigitTriples,
            ],
            PreType::Gpt2 => &[Gpt2],
            PreType::Llama3 | PreType::ChatGlm4 => &[Llama3 {
                max_digits: 3,
                marks: false,
            }],
            PreType::Qwen2 => &[Llama3 {
                max_digits: 1,
                marks: false,
            }],
            PreType::Qwen35 => &[Llama3 {
                max_digits: 1,
                marks: true,
            }],
            PreType::DeepseekLlm => &[
                Single(CrLf),
                SpaceThenRun(DeepseekLetter),
                SpaceThenRun(DeepseekPunct),
                TrailingSpaces,
                Run(CjkHangul),
                Run(CollapsedNumber),
            ],
            PreType::DeepseekCoder => &[
                Single(CrLf),
                SpaceThenRun(CollapsedLetter),
                SpaceThenRun(CollapsedPunct),
                Run(CjkHangul),
                Single(CollapsedNumber),
            ],
            PreType::Falcon => &[Run(FalconPunct), Gpt2, AsciiDigitTriples],
            PreType::Starcoder => &[Single(CollapsedNumber), Gpt2],
        }
    }
}

/// One of llama.cpp's regexes, as a direct splitter.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)` through
    /// llama.cpp's `unicode_regex_split_custom_gpt2`.
    Gpt2,
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// through `unicode_regex_split_custom_llama3`; qwen2 has `\p{N}` (max_digits 1), qwen3.5
    /// also takes `\p{M}` into letter runs.
    Llama3 { max_digits: usize, marks: bool },
    /// `X+`
    Run(Class),
    /// `X`
    Single(Class),
    /// `\s?X+`
    SpaceThenRun(Class),
    /// `\s+$`
    TrailingSpaces,
    /// `[0-9][0-9][0-9]`
    AsciiDigitTriples,
}

/// Character classes of the regex rules, as std::regex sees them in llama.cpp.
#[derive(Clone, Copy, Debug)]
enum Class {
    /// `[\p{P}\$\+<=>\^~\|]` on the collapsed text.
    DefaultPunct,
    /// `[\p{P}\$\+<=>\^~\|`]` on the collapsed text (falcon: the default's plus a backtick).
    FalconPunct,
    /// `\p{N}` on the collapsed text.
    CollapsedNumber,
    /// `\p{L}` on the collapsed text.
    CollapsedLetter,
    /// `\p{P}` on the collapsed text.
    CollapsedPunct,
    /// `[\r\n]`
    CrLf,
    /// `[一-龥ࠀ-一가-퟿]`
    CjkHangul,
    /// deepseek-llm's explicit letter class.
    DeepseekLetter,
    /// `[!-/:-~！-／：-～‘-‟　-。]`
    DeepseekPunct,
}

/// deepseek-llm's letter class, copied from llama.cpp's `llm_tokenizer_bpe` (inside `[...]`).
const DEEPSEEK_LETTER: &str = "A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}";
const DEEPSEEK_PUNCT: &str =
    "!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}";
const CJK_HANGUL: &str = "\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}";

/// Parses the body of a bracket expression made only of literal characters and `a-b` ranges.
fn parse_class(body: &str) -> Vec<(u32, u32)> {
    let cs: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        if i + 2 < cs.len() && cs[i + 1] == '-' {
            out.push((cs[i] as u32, cs[i + 2] as u32));
            i += 3;
        } else {
            out.push((cs[i] as u32, cs[i] as u32));
            i += 1;
        }
    }
    out
}

fn class_ranges(which: usize) -> &'static [(u32, u32)] {
    static TABLES: OnceLock<[Vec<(u32, u32)>; 3]> = OnceLock::new();
    &TABLES.get_or_init(|| {
        [
            parse_class(DEEPSEEK_LETTER),
            parse_class(DEEPSEEK_PUNCT),
            parse_class(CJK_HANGUL),
        ]
    })[which]
}

/// The codepoint std::wregex sees in llama.cpp: non-ASCII whitespace was replaced by `\x0B`.
#[inline]
fn wide(cp: u32) -> u32 {
    if cp >= 0x80 && flags(cp) & WHITESPACE_FLAG != 0 {
        0x0B
    } else {
        cp
    }
}

impl Class {
    #[inline]
    fn has(self, cp: u32) -> bool {
        match self {
            Class::DefaultPunct => {
                collapsed_category(cp) == PUNCTUATION
                    || matches!(cp, 0x24 | 0x2B | 0x3C..=0x3E | 0x5E | 0x7E | 0x7C)
            }
            Class::FalconPunct => Class::DefaultPunct.has(cp) || cp == 0x60,
            Class::CollapsedNumber => collapsed_category(cp) == NUMBER,
            Class::CollapsedLetter => collapsed_category(cp) == LETTER,
            Class::CollapsedPunct => collapsed_category(cp) == PUNCTUATION,
            Class::CrLf => cp == 0x0D || cp == 0x0A,
            Class::CjkHangul => in_ranges(class_ranges(2), wide(cp)),
            Class::DeepseekLetter => in_ranges(class_ranges(0), wide(cp)),
            Class::DeepseekPunct => in_ranges(class_ranges(1), wide(cp)),
        }
    }
}

fn in_ranges(ranges: &[(u32, u32)], cp: u32) -> bool {
    ranges.iter().any(|&(a, b)| a <= cp && cp <= b)
}

/// Splits `cpts` into words for `pre`: `pieces` receives half-open codepoint ranges covering
/// the text in order. `tmp` is scratch.
pub(crate) fn split(
    pre: PreType,
    cpts: &[u32],
    pieces: &mut Vec<(u32, u32)>,
    tmp: &mut Vec<(u32, u32)>,
) {
    pieces.clear();
    if cpts.is_empty() {
        return;
    }
    pieces.push((0, cpts.len() as u32));
    for rule in pre.rules() {
        tmp.clear();
        for &(s, e) in pieces.iter() {
            apply(*rule, cpts, s as usize, e as usize, tmp);
        }
        std::mem::swap(pieces, tmp);
    }
}

fn apply(rule: Rule, cpts: &[u32], ini: usize, end: usize, out: &mut Vec<(u32, u32)>) {
    match rule {
        Rule::Gpt2 => split_gpt2(cpts, ini, end, out),
        Rule::Llama3 { max_digits, marks } => split_llama3(cpts, ini, end, max_digits, marks, out),
        Rule::TrailingSpaces => {
            let mut s = end;
            while s > ini && is_regex_space(cpts[s - 1]) {
                s -= 1;
            }
            push(out, ini, s);
            push(out, s, end);
        }
        _ => {
            // A leftmost-first scan: at each position try the rule anchored there; the
            // stretches between matches are pieces too.
            let mut gap = ini;
            let mut pos = ini;
            while pos < end {
                match match_at(rule, cpts, pos, end) {
                    Some(m) => {
                        push(out, gap, pos);
                        push(out, pos, m);
                        pos = m;
                        gap = m;
                    }
                    None => pos += 1,
                }
            }
            push(out, gap, end);
        }
    }
}

#[inline]
fn push(out: &mut Vec<(u32, u32)>, s: usize, e: usize) {
    if e > s {
        out.push((s as u32, e as u32));
    }
}

/// The end of the match of `rule` anchored at `pos`, if it matches there (never empty).
#[inline]
fn match_at(rule: Rule, cpts: &[u32], pos: usize, end: usize) -> Option<usize> {
    let run = |c: Class, from: usize| {
        let mut p = from;
        while p < end && c.has(cpts[p]) {
            p += 1;
        }
        p
    };
    match rule {
        Rule::Run(c) => (c.has(cpts[pos])).then(|| run(c, pos)),
        Rule::Single(c) => (c.has(cpts[pos])).then_some(pos + 1),
        Rule::SpaceThenRun(c) => {
            if is_regex_space(cpts[pos]) && pos + 1 < end && c.has(cpts[pos + 1]) {
                Some(run(c, pos + 1))
            } else if c.has(cpts[pos]) {
                Some(run(c, pos))
            } else {
                None
            }
        }
        Rule::AsciiDigitTriples => {
            let d = |p: usize| p < end && (0x30..=0x39).contains(&cpts[p]);
            (d(pos) && d(pos + 1) && d(pos + 2)).then_some(pos + 3)
        }
        Rule::Gpt2 | Rule::Llama3 { .. } | Rule::TrailingSpaces => None,
    }
}

/// Out-of-range marker of the custom splitters.
const OOR: u32 = 0xFFFF_FFFF;

/// llama.cpp's `unicode_regex_split_custom_gpt2`, over `cpts[ini..end]`.
fn split_gpt2(cpts: &[u32], ini: usize, end: usize, out: &mut Vec<(u32, u32)>) {
    let cpt = |p: usize| if p >= ini && p < end { cpts[p] } else { OOR };
    let fl = |p: usize| {
        if p >= ini && p < end {
            flags(cpts[p])
        } else {
            0
        }
    };
    let mut prev = ini;
    let mut pos = ini;
    while pos < end {
        let c = cpt(pos);
        let f = fl(pos);
        // 's|'t|'re|'ve|'m|'ll|'d
        if c == '\'' as u32 && pos + 1 < end {
            let n = cpt(pos + 1);
            if [b's', b't', b'm', b'd'].iter().any(|&x| n == x as u32) {
                pos += 2;
                push(out, prev, pos);
                prev = pos;
                continue;
            }
            if pos + 2 < end {
                let nn = cpt(pos + 2);
                if (n == 'r' as u32 && nn == 'e' as u32)
                    || (n == 'v' as u32 && nn == 'e' as u32)
                    || (n == 'l' as u32 && nn == 'l' as u32)
                {
                    pos += 3;
                    push(out, prev, pos);
                    prev = pos;
                    continue;
                }
            }
        }
        let space = c == ' ' as u32;
        let mut f2 = if space { fl(pos + 1) } else { f };
        // ?\p{L}+  ?\p{N}+  ?[^\s\p{L}\p{N}]+
        let classes: [&dyn Fn(u16) -> bool; 3] =
            [&|x| x & LETTER != 0, &|x| x & NUMBER != 0, &|x| {
                x & (WHITESPACE_FLAG | LETTER | NUMBER) == 0 && x != 0
            }];
        let mut matched = false;
        for is in classes {
            if is(f2) {
                pos += space as usize;
                while is(f2) {
                    pos += 1;
                    f2 = fl(pos);
                }
                push(out, prev, pos);
                prev = pos;
                matched = true;
                break;
            }
        }
        if matched {
            continue;
        }
        let mut n_ws = 0;
        while fl(pos + n_ws) & WHITESPACE_FLAG != 0 {
            n_ws += 1;
        }
        // \s+(?!\S)
        if n_ws > 1 && cpt(pos + n_ws) != OOR {
            pos += n_ws - 1;
            push(out, prev, pos);
            prev = pos;
            continue;
        }
        // \s+
        if n_ws > 0 {
            pos += n_ws;
            push(out, prev, pos);
            prev = pos;
            continue;
        }
        // no match
        pos += 1;
        push(out, prev, pos);
        prev = pos;
    }
}

/// llama.cpp's `unicode_regex_split_custom_llama3` (max_digits 3), `_qwen2` (1) and
/// `_qwen35` (1, marks), over `cpts[ini..end]`.
fn split_llama3(
    cpts: &[u32],
    ini: usize,
    end: usize,
    max_digits: usize,
    marks: bool,
    out: &mut Vec<(u32, u32)>,
) {
    let cpt = |p: usize| if p >= ini && p < end { cpts[p] } else { OOR };
    let fl = |p: usize| {
        if p >= ini && p < end {
            flags(cpts[p])
        } else {
            0
        }
    };
    // The letter class of the word rule: \p{L}, or [\p{L}\p{M}] for qwen3.5.
    let word = if marks { LETTER | MARK } else { LETTER };
    let lower = |c: u32| {
        if (0x41..=0x5A).contains(&c) {
            c + 0x20
        } else {
            c
        }
    };
    let is_crlf = |c: u32| c == '\r' as u32 || c == '\n' as u32;
    let mut prev = ini;
    let mut pos = ini;
    macro_rules! token {
        ($end:expr) => {{
            let e = $end;
            push(out, prev, e);
            prev = e;
        }};
    }
    while pos < end {
        let c = cpt(pos);
        let f = fl(pos);
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if c == '\'' as u32 && pos + 1 < end {
            let n = lower(cpt(pos + 1));
            if [b's', b't', b'm', b'd'].iter().any(|&x| n == x as u32) {
                pos += 2;
                token!(pos);
                continue;
            }
            if pos + 2 < end {
                let nn = lower(cpt(pos + 2));
                if (n == 'r' as u32 && nn == 'e' as u32)
                    || (n == 'v' as u32 && nn == 'e' as u32)
                    || (n == 'l' as u32 && nn == 'l' as u32)
                {
                    pos += 3;
                    token!(pos);
                    continue;
                }
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !(is_crlf(c) || f & NUMBER != 0) && (f & word != 0 || fl(pos + 1) & word != 0) {
            pos += 1;
            while fl(pos) & word != 0 {
                pos += 1;
            }
            token!(pos);
            continue;
        }
        // \p{N}{1,3} (llama3) or \p{N} (qwen)
        if f & NUMBER != 0 {
            if max_digits == 1 {
                pos += 1;
                token!(pos);
                continue;
            }
            let mut start = pos;
            while fl(pos) & NUMBER != 0 {
                pos += 1;
                if pos - start >= max_digits {
                    token!(pos);
                    start = pos;
                }
            }
            token!(pos);
            continue;
        }
        // <space>?[^\s\p{L}\p{N}]+[\r\n]*  (note: llama.cpp tests `flags`, not `flags2`, for
        // being inside the text)
        let excluded = WHITESPACE_FLAG | LETTER | NUMBER | if marks { MARK } else { 0 };
        let mut f2 = if c == ' ' as u32 { fl(pos + 1) } else { f };
        if f2 & excluded == 0 && f != 0 {
            pos += (c == ' ' as u32) as usize;
            while f2 & excluded == 0 && f2 != 0 {
                pos += 1;
                f2 = fl(pos);
            }
            while is_crlf(cpt(pos)) {
                pos += 1;
            }
            token!(pos);
            continue;
        }
        let mut n_ws = 0;
        let mut last_crlf_end = 0;
        while fl(pos + n_ws) & WHITESPACE_FLAG != 0 {
            if is_crlf(cpt(pos + n_ws)) {
                last_crlf_end = pos + n_ws + 1;
            }
            n_ws += 1;
        }
        // \s*[\r\n]+
        if last_crlf_end > 0 {
            pos = last_crlf_end;
            token!(pos);
            continue;
        }
        // \s+(?!\S)
        if n_ws > 1 && cpt(pos + n_ws) != OOR {
            pos += n_ws - 1;
            token!(pos);
            continue;
        }
        // \s+
        if n_ws > 0 {
            pos += n_ws;
            token!(pos);
            continue;
        }
        pos += 1;
        token!(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(pre: PreType, text: &str) -> Vec<String> {
        let cpts: Vec<u32> = text.chars().map(|c| c as u32).collect();
        let (mut p, mut t) = (Vec::new(), Vec::new());
        split(pre, &cpts, &mut p, &mut t);
        p.iter()
            .map(|&(s, e)| {
                cpts[s as usize..e as usize]
                    .iter()
                    .map(|&c| char::from_u32(c).unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn llama3_numbers_contractions_spaces() {
        assert_eq!(
            words(PreType::Llama3, "1234567 I'M ok  \n\n x"),
            ["123", "456", "7", " I", "'M", " ok", "  \n\n", " x"]
        );
        assert_eq!(words(PreType::Qwen2, "123"), ["1", "2", "3"]);
        assert_eq!(words(PreType::Llama3, "a   b"), ["a", "  ", " b"]);
        assert_eq!(words(PreType::Llama3, "a   "), ["a", "   "]);
    }

    #[test]
    fn gpt2_is_case_sensitive() {
        assert_eq!(
            words(PreType::Gpt2, "I'M it's"),
            ["I", "'", "M", " it", "'s"]
        );
        assert_eq!(words(PreType::Gpt2, "x\t\ty"), ["x", "\t", "\t", "y"]);
    }

    #[test]
    fn default_splits_punctuation_and_digits() {
        assert_eq!(
            words(PreType::Default, "a+=b 12345"),
            ["a", "+=", "b", " ", "123", "45"]
        );
        assert_eq!(words(PreType::Starcoder, "x 12"), ["x", " ", "1", "2"]);
    }

    #[test]
    fn deepseek_rules() {
        assert_eq!(
            words(PreType::DeepseekCoder, "int x=1;\n"),
            ["int", " x", "=", "1", ";", "\n"]
        );
        assert_eq!(
            words(PreType::DeepseekLlm, "hi 中文  "),
            ["hi", " ", "中文", "  "]
        );
    }
}
