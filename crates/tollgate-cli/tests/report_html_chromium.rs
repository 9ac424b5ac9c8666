//! `tollgate report --html` rendered by a real browser: headless Chromium
//! takes a screenshot (decoded with `png`: the page is not blank and every
//! feature's colour is on it) and dumps the DOM it built (exactly one bar
//! per day and feature that has calls, each labelled with its exact total).
//!
//! Chromium is a system package: `scripts/ensure-tools` installs it. Without
//! it this test fails and says so; it never passes by skipping.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tollgate-analysis/tests/fixtures")
}

fn chromium() -> PathBuf {
    let candidates = [
        std::env::var_os("TOLLGATE_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium not found at /usr/bin/chromium (or $TOLLGATE_CHROMIUM): run scripts/ensure-tools to install it"
            )
        })
}

/// A fresh scratch folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let p = std::env::temp_dir().join(format!("tollgate-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs headless Chromium with its own profile; stdout. Killed after 90 s.
fn run_chromium(extra: &[String]) -> String {
    let profile = Scratch::new("chromium-profile");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("chromium does not start ({e}): run scripts/ensure-tools"));
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium failed: {status}");
    reader.join().unwrap().unwrap()
}

fn write_report(dir: &Path) -> PathBuf {
    let html = dir.join("spend.html");
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .current_dir(fixtures())
        .args(["report", "--rules", "spike.toml", "--html"])
        .arg(&html)
        .arg("spend.jsonl")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    html
}

fn url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// (day, feature, exact USD) of every bar, hand-computed in
/// `tollgate-analysis/tests/spend.rs`.
fn expected_bars() -> Vec<(String, String, String)> {
    let mut v = Vec::new();
    for d in 1..=6 {
        let day = format!("2026-11-{d:02}");
        let (chat, faq, kb, search) = match d {
            1 | 2 | 4 => ("0.054675", "0.003", Some("0.0312"), None),
            3 => ("0.054675", "0.003", None, None),
            5 => ("0.054675", "0.003", Some("0.0312"), Some("0.036")),
            _ => ("0.11985", "0.012", Some("0.0512"), Some("0.186")),
        };
        let mut add = |g: &str, c: Option<&str>| {
            if let Some(c) = c {
                v.push((day.clone(), g.to_owned(), c.to_owned()));
            }
        };
        add("chat", Some(chat));
        add("faq", Some(faq));
        add("kb", kb);
        add("search", search);
    }
    v
}

#[test]
fn dumped_dom_has_one_labelled_bar_per_day_and_feature() {
    let dir = Scratch::new("report-dom");
    let html = write_report(&dir.0);
    let dom = run_chromium(&["--dump-dom".to_owned(), url(&html)]);
    let rect = regex::Regex::new(r#"<rect class="bar"[^>]*>"#).unwrap();
    let attr = |tag: &str, name: &str| -> String {
        let re = regex::Regex::new(&format!(r#"\s{name}="([^"]*)""#)).unwrap();
        re.captures(tag)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default()
    };
    let bars: Vec<(String, String, String)> = rect
        .find_iter(&dom)
        .map(|m| {
            let t = m.as_str();
            (
                attr(t, "data-day"),
                attr(t, "data-group"),
                attr(t, "data-cost-usd"),
            )
        })
        .collect();
    assert_eq!(bars, expected_bars());
    let titles = regex::Regex::new(r"<title>(2026-11-06 (?:chat|kb)[^<]*)</title>").unwrap();
    let got: Vec<&str> = titles
        .captures_iter(&dom)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            "2026-11-06 chat: $0.11985 (5 requests), spend spike",
            "2026-11-06 kb: $0.0512 (4 requests), spend spike",
        ]
    );
    // Axis labels and the legend are in the page too.
    for day in 1..=6 {
        assert!(
            dom.contains(&format!(">2026-11-0{day}</text>")),
            "x label {day}"
        );
    }
    assert!(dom.contains(r#"<ul class="legend">"#));
}

#[test]
fn screenshot_is_not_blank_and_shows_every_feature_colour() {
    let dir = Scratch::new("report-shot");
    let html = write_report(&dir.0);
    let png_path = dir.0.join("shot.png");
    run_chromium(&[
        format!("--screenshot={}", png_path.display()),
        "--window-size=1200,800".to_owned(),
        url(&html),
    ]);
    let file = std::fs::File::open(&png_path)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png_path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 800));
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let pixels: Vec<(u8, u8, u8)> = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| (p[0], p[1], p[2]))
        .collect();
    let non_white = pixels.iter().filter(|&&p| p != (255, 255, 255)).count();
    let distinct: BTreeSet<(u8, u8, u8)> = pixels.iter().copied().collect();
    // The bars alone cover about 6 x 100 x 300 pixels.
    assert!(non_white > 30_000, "only {non_white} non-white pixels");
    assert!(distinct.len() > 20, "only {} colours", distinct.len());
    // chat, faq, kb, search: the first four palette colours, solid inside the bars.
    for (name, rgb) in [
        ("chat", (0x4e, 0x79, 0xa7)),
        ("faq", (0xf2, 0x8e, 0x2b)),
        ("kb", (0xe1, 0x57, 0x59)),
        ("search", (0x76, 0xb7, 0xb2)),
    ] {
        let n = pixels.iter().filter(|&&p| p == rgb).count();
        assert!(n > 100, "{name}'s colour {rgb:?} covers only {n} pixels");
    }
}
