//! `[routers.NAME]` in a policy: the model file is read relative to the
//! policy, checked, hashed with it; a missing or broken file is an error at
//! the `model` key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use tollgate_lang::{load_path, LoadOptions, Type};
use tollgate_lang::{RouterModel, RouterPrices, HEADS};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tollgate-routers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("routers")).unwrap();
    d
}

fn model(bias: f32) -> Vec<u8> {
    RouterModel::new(
        8,
        RouterPrices {
            strong_input: 3.0,
            strong_output: 15.0,
            weak_input: 0.8,
            weak_output: 4.0,
        },
        [bias, 1.0, 1.0],
        [[0.0; HEADS]; 2],
        vec![0.0; HEADS << 8],
        "t",
    )
    .unwrap()
    .to_bytes()
}

const POLICY: &str = "[policy]\nname = \"p\"\ndefault_model = \"weak\"\n\n\
[routers.learned]\nmodel = \"routers/r.model\"\n\n\
[models.strong]\nid = \"us.anthropic.claude-sonnet-4-20250514-v1:0\"\n\n\
[models.weak]\nid = \"us.anthropic.claude-3-5-haiku-20241022-v1:0\"\n\n\
[[route]]\nname = \"learned\"\nwhen = 'learned.gain >= 0.2'\nmodel = \"strong\"\n";

#[test]
fn a_router_adds_float_attributes_and_is_hashed_with_the_policy() {
    let d = dir("ok");
    std::fs::write(d.join("p.toml"), POLICY).unwrap();
    std::fs::write(d.join("routers/r.model"), model(0.5)).unwrap();
    let p = load_path(&d.join("p.toml"), &LoadOptions::default())
        .map_err(|e| e.render())
        .unwrap()
        .policy;
    assert_eq!(p.routers().len(), 1);
    let r = &p.routers()[0];
    assert_eq!(r.name, "learned");
    assert_eq!(p.schema().name(r.gain), "learned.gain");
    assert_eq!(p.schema().name(r.gain_per_usd), "learned.gain_per_usd");
    assert_eq!(p.schema().get(r.gain).unwrap().ty, Type::Float);
    assert_eq!(r.model.score("anything").gain, 0.5);
    let h1 = p.hash();
    // Same policy text, another model: another hash.
    std::fs::write(d.join("routers/r.model"), model(0.25)).unwrap();
    let p2 = load_path(&d.join("p.toml"), &LoadOptions::default())
        .unwrap()
        .policy;
    assert_ne!(p2.hash(), h1);
    assert_eq!(p2.routers()[0].model.score("anything").gain, 0.25);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_missing_or_broken_model_is_an_error_at_the_model_key() {
    let d = dir("bad");
    std::fs::write(d.join("p.toml"), POLICY).unwrap();
    let e = load_path(&d.join("p.toml"), &LoadOptions::default()).unwrap_err();
    let text = e.render();
    let shown = d.join("p.toml").display().to_string();
    assert!(text.contains(&format!("{shown}:6:1")), "{text}");
    assert!(text.contains("cannot read router model"), "{text}");
    let mut bytes = model(0.5);
    let n = bytes.len();
    bytes[n - 20] ^= 1;
    std::fs::write(d.join("routers/r.model"), bytes).unwrap();
    let e = load_path(&d.join("p.toml"), &LoadOptions::default()).unwrap_err();
    let text = e.render();
    assert!(text.contains(&format!("{shown}:6:1")), "{text}");
    assert!(text.contains("router model checksum mismatch"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}
