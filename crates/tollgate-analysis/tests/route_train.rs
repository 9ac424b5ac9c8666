//! route-train on records whose answer is in the text: the router learns
//! which prompts need the strong model, every floor holds on the training
//! data, and the same records give the same file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use tollgate_analysis::{train, TrainOptions, TrainRecord};
use tollgate_lang::{PicosPerToken, Prices};

fn records() -> Vec<TrainRecord> {
    let mut v = Vec::new();
    for i in 0..200u64 {
        let hard = i % 2 == 0;
        let feature = if i % 4 < 2 { "math" } else { "chat" };
        v.push(TrainRecord {
            id: format!("r{i}"),
            feature: feature.into(),
            prompt: if hard {
                format!("prove the theorem number {i} about integrals rigorously")
            } else {
                format!("say hello to friend number {i} politely")
            },
            strong_score: 1.0,
            weak_score: if hard { 0.0 } else { 1.0 },
            input_tokens: 20,
            strong_output_tokens: 100,
            weak_output_tokens: 100,
        });
    }
    v
}

fn opts() -> TrainOptions {
    // Nano-dollars per token, as pico-dollars: $3 / $15 and $0.80 / $4 per Mtok.
    let p = |i: u64, o: u64| Prices {
        input: PicosPerToken::from_picos(i * 1000),
        output: PicosPerToken::from_picos(o * 1000),
        ..Prices::default()
    };
    TrainOptions {
        hash_bits: 10,
        iterations: 40,
        floors: BTreeMap::from([("math".to_owned(), 0.99)]),
        default_floor: 0.9,
        strong_prices: p(3000, 15000),
        weak_prices: p(800, 4000),
        ..TrainOptions::default()
    }
}

#[test]
fn the_router_learns_which_prompts_need_the_strong_model() {
    let r = train(&records(), &opts()).unwrap();
    let hard = r
        .model
        .score("prove the theorem number 7 about integrals rigorously");
    let easy = r.model.score("say hello to friend number 7 politely");
    assert!(hard.gain > 0.8 && easy.gain < 0.2, "{hard:?} {easy:?}");
    assert!(hard.gain_per_usd > easy.gain_per_usd);
    let names: Vec<&str> = r.features.iter().map(|f| f.feature.as_str()).collect();
    assert_eq!(names, ["chat", "math", "*"]);
    for f in &r.features {
        assert!(f.chosen.kept >= f.floor, "{f:?}");
        assert!(f.in_sample.kept >= f.floor, "{f:?}");
        // Half the prompts are hard: the cheapest way to keep the floor
        // sends about half to the strong model.
        assert!(f.chosen.strong_share <= 0.55, "{f:?}");
        assert_eq!(f.curve.len(), 11);
    }
    let again = train(&records(), &opts()).unwrap();
    assert_eq!(again.model.to_bytes(), r.model.to_bytes());
}

#[test]
fn a_floor_for_an_unknown_feature_is_refused() {
    let mut o = opts();
    o.floors.insert("nope".into(), 0.9);
    let e = train(&records(), &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`--floor nope=...` names a feature no record has (features: chat, math)"
    );
}

#[test]
fn a_target_chooses_the_thresholds_together() {
    // Both features at floor 0.5; together 75 % kept. Half the prompts are
    // hard (strong 1, weak 0), so all-weak keeps 50 % and 75 % needs half
    // of the hard prompts on the strong model.
    let mut o = opts();
    o.floors.clear();
    o.default_floor = 0.5;
    o.target = Some(0.75);
    let r = train(&records(), &o).unwrap();
    let j = r.joint.unwrap();
    assert_eq!(j.target, 0.75);
    assert!(j.chosen.kept >= 0.75 && j.in_sample.kept >= 0.75, "{j:?}");
    // Every prompt costs the same: the cheapest way sends the hard half
    // of the hard prompts, a quarter of all, and no more.
    assert_eq!(j.chosen.strong_share, 0.25, "{j:?}");
    for f in &r.features {
        assert!(
            f.chosen.kept >= f.floor && f.in_sample.kept >= f.floor,
            "{f:?}"
        );
    }
    let again = train(&records(), &o).unwrap();
    assert_eq!(again.model.to_bytes(), r.model.to_bytes());
    assert_eq!(again.features, r.features);
    // Without a target there is no joint figure.
    assert_eq!(train(&records(), &opts()).unwrap().joint, None);
    o.target = Some(1.5);
    assert_eq!(
        train(&records(), &o).unwrap_err().to_string(),
        "the target is 1.5, outside 0 to 1"
    );
}
