//! `route_eval` on a hand-made eval set (three MMLU-format prompts, one of
//! them listed as contaminated; one GSM8K-format prompt with both
//! responses; one MT-Bench question of two turns), every figure computed by
//! hand in the comments; and the bundled RouteLLM files parse.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use tollgate_analysis::read_evals;
use tollgate_analysis::{classify, PromptClass};
use tollgate_analysis::{route_eval, RouteEvalOptions, Split, Tally};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/evals")
}

fn policy() -> tollgate_engine::CompiledPolicy {
    let l = tollgate_lang::load_path(&fixtures().join("policy.toml"), &Default::default())
        .map_err(|e| e.render())
        .unwrap();
    tollgate_engine::compile(l.policy).unwrap()
}

#[test]
fn classifier_computes_the_documented_attributes() {
    assert_eq!(
        classify("What is 12 + 30?\nA. 42\nB. 41\nAnswer:"),
        PromptClass {
            prompt_chars: 36,
            input_tokens: 9,
            number_count: 4,
            has_math: true,
            has_code: false,
            asks_reasoning: false,
            multiple_choice: true,
        }
    );
    let c = classify("Explain why this Python function returns None");
    assert!(c.has_code && c.asks_reasoning && !c.has_math && !c.multiple_choice);
    assert_eq!(c.input_tokens, 12);
    // `x^2` starts with a letter: no digit-operator-digit; `2^10` does.
    assert!(!classify("simplify x^2").has_math);
    assert!(classify("what is 2^10").has_math);
}

#[test]
fn tiny_eval_set_gives_the_hand_computed_figures() {
    let set = read_evals(&[fixtures()]).unwrap();
    assert_eq!(set.prompts.len(), 5);
    assert_eq!(set.contaminated, 1);
    let ids: Vec<&str> = set.prompts.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "gsm8k/0",
            "mmlu/tiny/0",
            "mmlu/tiny/1",
            "mt_bench/1/1",
            "mt_bench/1/2"
        ]
    );
    let opts = RouteEvalOptions {
        split: Split::All,
        ..RouteEvalOptions::default()
    };
    let r = route_eval(&policy(), &set.prompts, &opts).unwrap();
    // gsm8k/0: 56 chars = 14 tokens, has_math ("how many") -> strong.
    //   strong: 14 x 2,000 + 7 (27-char response) x 10,000 = 98,000;
    //   weak: 14 x 1,000 + 3 (9-char response) x 4,000 = 26,000.
    let gsm8k = Tally {
        prompts: 1,
        to_strong: 1,
        quality_routed: 1000,
        quality_strong: 1000,
        quality_weak: 0,
        cost_routed: 98_000,
        cost_strong: 98_000,
        cost_weak: 26_000,
    };
    // mmlu/tiny/0: 9 tokens, `12 + 30` -> strong; mmlu/tiny/1: 9 tokens ->
    // weak. 5 output tokens: strong 68,000, weak 29,000 each.
    let mmlu = Tally {
        prompts: 2,
        to_strong: 1,
        quality_routed: 2000,
        quality_strong: 2000,
        quality_weak: 1000,
        cost_routed: 68_000 + 29_000,
        cost_strong: 136_000,
        cost_weak: 58_000,
    };
    // Turn 1: 25 chars = 7 tokens -> weak (7 <= 100); 400 output tokens:
    //   strong 4,014,000, weak 1,607,000; scores 9 and 7.5.
    // Turn 2: both turns, 45 chars = 12 tokens + the first answer (400) =
    //   412 -> strong: 4,824,000, weak 2,012,000; scores 10 and 6.
    let mt = Tally {
        prompts: 2,
        to_strong: 1,
        quality_routed: 750 + 1000,
        quality_strong: 1900,
        quality_weak: 1350,
        cost_routed: 1_607_000 + 4_824_000,
        cost_strong: 8_838_000,
        cost_weak: 3_619_000,
    };
    assert_eq!(
        r.by_dataset,
        vec![
            ("gsm8k".to_owned(), gsm8k),
            ("mmlu".to_owned(), mmlu),
            ("mt_bench".to_owned(), mt)
        ]
    );
    assert_eq!(r.overall.prompts, 5);
    assert_eq!(r.overall.cost_routed, 6_626_000);
    assert_eq!(r.overall.cost_strong, 9_072_000);
    assert_eq!(r.overall.cost_weak, 3_703_000);
    assert_eq!(
        r.overall.kept_pct(r.overall.quality_routed),
        4750.0 / 4900.0 * 100.0
    );
    let rules: Vec<(&str, u64)> = r
        .by_rule
        .iter()
        .map(|(n, t)| (n.as_str(), t.prompts))
        .collect();
    assert_eq!(
        rules,
        [("(default model)", 2), ("math", 2), ("long-writing", 1)]
    );
}

#[test]
fn tune_and_report_halves_partition_the_prompts() {
    let set = read_evals(&[fixtures()]).unwrap();
    let run = |split| {
        let opts = RouteEvalOptions {
            split,
            ..RouteEvalOptions::default()
        };
        route_eval(&policy(), &set.prompts, &opts).unwrap().overall
    };
    let (tune, report, all) = (run(Split::Tune), run(Split::Report), run(Split::All));
    assert_eq!(tune.prompts + report.prompts, all.prompts);
    assert_eq!(tune.cost_strong + report.cost_strong, all.cost_strong);
    assert_eq!(
        tune.quality_routed + report.quality_routed,
        all.quality_routed
    );
}

#[test]
fn a_route_to_a_third_model_is_an_error() {
    let text = std::fs::read_to_string(fixtures().join("policy.toml"))
        .unwrap()
        .replace("default_model = \"weak\"", "default_model = \"other\"")
        + "\n[models.other]\nid = \"test.other\"\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n";
    let l = tollgate_lang::load_str("p.toml", &text, &Default::default())
        .map_err(|e| e.render())
        .unwrap();
    let c = tollgate_engine::compile(l.policy).unwrap();
    let set = read_evals(&[fixtures()]).unwrap();
    let opts = RouteEvalOptions {
        split: Split::All,
        ..RouteEvalOptions::default()
    };
    let e = route_eval(&c, &set.prompts, &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "prompt `mmlu/tiny/1` is routed to `other`, which is neither the strong (`strong`) nor the weak (`weak`) model"
    );
}

#[test]
fn bundled_routellm_files_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/routellm-evals");
    let set = read_evals(&[dir]).unwrap();
    // 14,042 MMLU + 1,319 GSM8K + 160 MT-Bench turns, less 5 + 12 + 8 x 2
    // contaminated.
    assert_eq!(set.contaminated, 33);
    let count = |d: &str| set.prompts.iter().filter(|p| p.dataset == d).count();
    assert_eq!(
        (count("mmlu"), count("gsm8k"), count("mt_bench")),
        (14_037, 1_307, 144)
    );
    let mmlu_strong: u64 = set
        .prompts
        .iter()
        .filter(|p| p.dataset == "mmlu")
        .map(|p| p.strong_quality)
        .sum();
    // GPT-4 Turbo right on 80.6 % of MMLU (the data's README); 11,312 after
    // the exclusions (counted independently with Python's csv module).
    assert_eq!(mmlu_strong / 1000, 11_312);
    let tune = set
        .prompts
        .iter()
        .filter(|p| Split::Tune.contains(&p.id))
        .count();
    assert_eq!(tune, 7_758);
}

#[test]
fn a_classifier_attribute_of_another_type_is_an_error() {
    let text = std::fs::read_to_string(fixtures().join("policy.toml"))
        .unwrap()
        .replace("has_math = \"bool\"", "has_math = \"int\"")
        .replace("when = 'has_math'", "when = 'has_math > 0'");
    let l = tollgate_lang::load_str("p.toml", &text, &Default::default())
        .map_err(|e| e.render())
        .unwrap();
    let c = tollgate_engine::compile(l.policy).unwrap();
    let e = route_eval(&c, &[], &RouteEvalOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the policy declares `has_math` as int; the classifier computes bool"
    );
    let opts = RouteEvalOptions {
        strong: "big".into(),
        ..RouteEvalOptions::default()
    };
    let e = route_eval(&policy(), &[], &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the policy has no model `big` (models: strong, weak)"
    );
}
