//! A cheap prompt classifier: request attributes computed from the prompt
//! text alone, for routing rules to read.
//!
//! No model, no embedding: lengths, digit runs and keyword lists, a few
//! microseconds per prompt. It is what a router on the request path can
//! afford, and `tollgate route-eval` measures what it is worth on real
//! quality data. A learned classifier would route better; these attributes
//! are the baseline it has to beat, and each is explainable in one line.
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `prompt_chars` | int | characters (Unicode scalar values) of the prompt |
//! | `input_tokens` | int | estimated prompt tokens: `ceil(prompt_chars / 4)` |
//! | `number_count` | int | runs of ASCII digits (`3.14` counts 2) |
//! | `has_math` | bool | a math keyword ([`MATH_WORDS`]) or a digit, operator, digit pattern (`3 + 4`, `x^2` does not count, `2^10` does) |
//! | `has_code` | bool | a code keyword ([`CODE_WORDS`]) |
//! | `asks_reasoning` | bool | a reasoning keyword ([`REASONING_WORDS`]) |
//! | `multiple_choice` | bool | at least two lines starting `A.` to `D.` (an answer menu) |
//! | `subject` | string | the data's own label where it has one (MMLU subject, MT-Bench category), else empty; set by the caller, not computed here |
//!
//! Keywords match case-insensitively as substrings of the lowercased text.

use tollgate_lang::Type;

/// Characters per token of the estimate.
pub const CHARS_PER_TOKEN: u64 = 4;

/// Substrings that mark a math question.
pub const MATH_WORDS: &[&str] = &[
    "calculate",
    "compute",
    "solve",
    "equation",
    "how many",
    "how much",
    "percent",
    "probability",
    "integral",
    "derivative",
    "sqrt",
    "polynomial",
    "average",
    "sum of",
    "product of",
    "remainder",
    "fraction",
];

/// Substrings that mark a programming question.
pub const CODE_WORDS: &[&str] = &[
    "```",
    "code",
    "function",
    "program",
    "python",
    "javascript",
    "java ",
    "c++",
    "sql",
    "algorithm",
    "compile",
    "def ",
    "return ",
    "array",
    "variable",
    "software",
];

/// Substrings that mark a request for reasoning.
pub const REASONING_WORDS: &[&str] = &[
    "why",
    "explain",
    "prove",
    "reason",
    "step by step",
    "justify",
    "derive",
    "analy",
    "compare",
    "evaluate",
    "infer",
    "conclude",
    "implies",
];

/// The classifier's attributes and their types (`subject` included).
pub const ATTRIBUTES: &[(&str, Type)] = &[
    ("prompt_chars", Type::Int),
    ("input_tokens", Type::Int),
    ("number_count", Type::Int),
    ("has_math", Type::Bool),
    ("has_code", Type::Bool),
    ("asks_reasoning", Type::Bool),
    ("multiple_choice", Type::Bool),
    ("subject", Type::String),
];

/// What the classifier computed for one prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PromptClass {
    /// Characters of the prompt.
    pub prompt_chars: u64,
    /// Estimated tokens.
    pub input_tokens: u64,
    /// Runs of ASCII digits.
    pub number_count: u64,
    /// Math keyword or arithmetic pattern.
    pub has_math: bool,
    /// Code keyword.
    pub has_code: bool,
    /// Reasoning keyword.
    pub asks_reasoning: bool,
    /// An `A.`..`D.` answer menu.
    pub multiple_choice: bool,
}

/// Estimated tokens of `chars` characters.
pub fn estimate_tokens(chars: u64) -> u64 {
    chars.div_ceil(CHARS_PER_TOKEN)
}

/// Classifies a prompt (see the module docs).
pub fn classify(text: &str) -> PromptClass {
    let lower = text.to_lowercase();
    let chars = text.chars().count() as u64;
    let bytes = text.as_bytes();
    let mut number_count = 0u64;
    let mut arithmetic = false;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii_digit() {
            number_count += 1;
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            // digit, spaces, operator, spaces, digit
            let mut j = i;
            while bytes.get(j) == Some(&b' ') {
                j += 1;
            }
            if bytes
                .get(j)
                .is_some_and(|c| matches!(c, b'+' | b'-' | b'*' | b'/' | b'^' | b'=' | b'x'))
            {
                j += 1;
                while bytes.get(j) == Some(&b' ') {
                    j += 1;
                }
                if bytes.get(j).is_some_and(u8::is_ascii_digit) {
                    arithmetic = true;
                }
            }
        } else {
            i += 1;
        }
    }
    let any = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let menu = lower
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            ["a.", "b.", "c.", "d."].iter().any(|p| l.starts_with(p))
        })
        .count();
    PromptClass {
        prompt_chars: chars,
        input_tokens: estimate_tokens(chars),
        number_count,
        has_math: arithmetic || any(MATH_WORDS),
        has_code: any(CODE_WORDS),
        asks_reasoning: any(REASONING_WORDS),
        multiple_choice: menu >= 2,
    }
}
