//! The spend spike alert, day by day: offline (`SpikeConfig::scan`) and live
//! through the ledger, in process and (feature `redis`) across a fleet.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use tollgate_cost::{
    Day, GroupKey, Ledger, LedgerConfig, MemoryStore, SpendStore, SpikeAlert, SpikeConfig,
};

const USD: u64 = 1_000_000_000;

fn d(n: u32) -> Day {
    Day::from_ymd(2026, 11, 1).unwrap().plus(n - 1)
}

fn days(spend: &[(u32, f64)]) -> Vec<(Day, u64)> {
    spend
        .iter()
        .map(|&(n, usd)| (d(n), (usd * 1e9).round() as u64))
        .collect()
}

fn alert_days(cfg: &SpikeConfig, spend: &[(u32, f64)]) -> Vec<Day> {
    cfg.scan("kb", &days(spend)).iter().map(|a| a.day).collect()
}

#[test]
fn a_day_at_twice_the_trailing_mean_alerts() {
    let cfg = SpikeConfig::default();
    let mut s: Vec<(u32, f64)> = (1..=7).map(|n| (n, 10.0)).collect();
    s.push((8, 19.99));
    assert_eq!(alert_days(&cfg, &s), []);
    s.pop();
    s.push((8, 20.0)); // exactly factor x mean
    assert_eq!(alert_days(&cfg, &s), [d(8)]);
    let a = &cfg.scan("kb", &days(&s))[0];
    assert_eq!(
        (a.spend_nanos, a.trailing_mean_nanos, a.threshold_nanos),
        (20 * USD, 10 * USD, 20 * USD)
    );
    assert_eq!((a.group_by.as_str(), a.group.as_str()), ("feature", "kb"));
}

#[test]
fn a_new_feature_does_not_alert_before_it_has_a_full_window() {
    // First event on day 10. Days before it are not zeros: day 11's $50
    // against "six zeros and $1" must not alarm.
    let cfg = SpikeConfig::default();
    let mut s = vec![
        (10, 1.0),
        (11, 50.0),
        (12, 1.0),
        (13, 1.0),
        (14, 1.0),
        (15, 1.0),
    ];
    s.push((16, 100.0)); // window 9..15 starts before the first event
    assert_eq!(alert_days(&cfg, &s), []);
    // Day 17: window 10..16 is all history (mean (1+50+1+1+1+1+100)/7 = 22.14).
    s.push((17, 44.28));
    assert_eq!(alert_days(&cfg, &s), []);
    s.pop();
    s.push((17, 44.29));
    assert_eq!(alert_days(&cfg, &s), [d(17)]);
}

#[test]
fn days_without_spend_after_the_first_event_count_as_zero() {
    // Days 1..3 $10, days 4..7 nothing: the mean is 30/7, not 10.
    let cfg = SpikeConfig::default();
    let mut s = vec![(1, 10.0), (2, 10.0), (3, 10.0), (8, 8.57)];
    assert_eq!(alert_days(&cfg, &s), []);
    s.pop();
    s.push((8, 8.58));
    assert_eq!(alert_days(&cfg, &s), [d(8)]);
    // The exact threshold: ceil(2000 x 30e9 / 7000) nano-dollars.
    assert_eq!(
        cfg.threshold(
            Some(d(1)),
            d(8),
            &[
                10 * USD as i64,
                10 * USD as i64,
                10 * USD as i64,
                0,
                0,
                0,
                0
            ]
        ),
        Some(8_571_428_572)
    );
}

#[test]
fn small_groups_stay_below_the_minimum() {
    let cfg = SpikeConfig::default(); // $5 minimum
    let mut s: Vec<(u32, f64)> = (1..=7).map(|n| (n, 1.0)).collect();
    s.push((8, 4.99)); // 5x the mean, under $5
    assert_eq!(alert_days(&cfg, &s), []);
    s.pop();
    s.push((8, 5.0));
    assert_eq!(alert_days(&cfg, &s), [d(8)]);
}

#[test]
fn the_factor_and_window_come_from_the_policy() {
    let p = common::policy();
    let cfg = SpikeConfig::from_policy(&p).unwrap();
    assert_eq!(cfg, SpikeConfig::default());
    let cfg = SpikeConfig {
        factor: 1.5,
        trailing_days: 3,
        min_daily_nanos: 0,
        group_by: "feature".into(),
    };
    let s = [(1, 2.0), (2, 2.0), (3, 2.0), (4, 2.99), (5, 3.5)];
    // Day 4: mean 2 -> 3.00 needed; day 5: mean (2+2+2.99)/3 = 2.33 -> 3.495.
    assert_eq!(alert_days(&cfg, &s), [d(5)]);
}

// --- live ------------------------------------------------------------------------

fn live_ledger(store: impl SpendStore + 'static) -> (Ledger, Arc<Mutex<Vec<SpikeAlert>>>) {
    let cfg = LedgerConfig {
        spike: Some(SpikeConfig::default()),
        ..LedgerConfig::default()
    };
    let ledger = Ledger::new(store, cfg);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    ledger.on_spike(move |a| s.lock().unwrap().push(a.clone()));
    (ledger, seen)
}

fn history(ledger: &Ledger, group: &str, spend: &[(u32, u64)]) {
    for &(n, usd) in spend {
        ledger
            .store()
            .add(GroupKey::new("feature", group), d(n), (usd * USD) as i64)
            .unwrap();
    }
}

fn live_scenarios(ledger: &Ledger, seen: &Arc<Mutex<Vec<SpikeAlert>>>) {
    let kb = GroupKey::new("feature", "kb");
    history(ledger, "kb", &(1..=7).map(|n| (n, 10)).collect::<Vec<_>>());
    // Day 8: $1 calls; the alert fires on the call that reaches $20, once.
    let mut fired_at = None;
    for call in 1..=30 {
        ledger.add(&[kb], d(8), USD);
        if fired_at.is_none() && !seen.lock().unwrap().is_empty() {
            fired_at = Some(call);
        }
    }
    assert_eq!(
        fired_at,
        Some(20),
        "fires as soon as the running total crosses"
    );
    {
        let alerts = seen.lock().unwrap();
        assert_eq!(alerts.len(), 1, "once per group per day");
        assert_eq!((alerts[0].day, alerts[0].spend_nanos), (d(8), 20 * USD));
    }
    // Day 9: the window (days 2..8) holds day 8's $30: mean 90/7, threshold 25.71.
    for _ in 0..25 {
        ledger.add(&[kb], d(9), USD);
    }
    assert_eq!(seen.lock().unwrap().len(), 1);
    ledger.add(&[kb], d(9), USD);
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(seen.lock().unwrap()[1].day, d(9));

    // A new feature spending heavily on its first days never alerts.
    let fresh = GroupKey::new("feature", "fresh");
    for n in 8..=10 {
        ledger.add(&[fresh], d(n), 1000 * USD);
    }
    // A gap: first event day 1, then quiet until day 8.
    let quiet = GroupKey::new("feature", "quiet");
    history(ledger, "quiet", &[(1, 10), (2, 10), (3, 10)]);
    ledger.add(&[quiet], d(8), 8 * USD);
    ledger.add(&[quiet], d(8), USD / 2);
    assert_eq!(seen.lock().unwrap().len(), 2);
    ledger.add(&[quiet], d(8), USD / 10); // 8.60 >= 8.571428572
    let alerts = seen.lock().unwrap();
    assert_eq!(alerts.len(), 3);
    assert_eq!(alerts[2].group, "quiet");
    // Other dimensions never alert (the alert groups by feature).
    drop(alerts);
    ledger.add(&[GroupKey::new("tenant", "acme")], d(8), 1_000_000 * USD);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn live_alerts_fire_within_the_day_once_per_group() {
    let (ledger, seen) = live_ledger(MemoryStore::new());
    live_scenarios(&ledger, &seen);
}

#[test]
fn settled_calls_feed_the_live_alert() {
    let (ledger, seen) = live_ledger(MemoryStore::new());
    let p = common::policy();
    history(
        &ledger,
        "docs",
        &(1..=7).map(|n| (n, 3)).collect::<Vec<_>>(),
    );
    let req = common::request(&p, r#"{"feature": "docs", "input_tokens": 10}"#);
    let dec = common::decide(&p, &req);
    let ctx = req.context(p.schema());
    for _ in 0..5 {
        ledger.begin(&p, &dec, &ctx, d(8)).unwrap().settle(USD);
    }
    assert!(seen.lock().unwrap().is_empty(), "$5 < 2 x $3");
    ledger.begin(&p, &dec, &ctx, d(8)).unwrap().settle(USD);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[cfg(feature = "redis")]
mod redis_backed {
    use super::*;
    use common::RedisServer;
    use tollgate_cost::{RedisConfig, RedisStore};

    fn store(server: &RedisServer) -> RedisStore {
        RedisStore::open(RedisConfig::new(server.url())).unwrap()
    }

    #[test]
    fn redis_live_alerts_fire_within_the_day_once_per_group() {
        let server = RedisServer::start();
        let (ledger, seen) = live_ledger(store(&server));
        live_scenarios(&ledger, &seen);
    }

    #[test]
    fn redis_a_fleet_alerts_once() {
        let server = RedisServer::start();
        let (a, seen_a) = live_ledger(store(&server));
        let (b, seen_b) = live_ledger(store(&server));
        history(&a, "kb", &(1..=7).map(|n| (n, 10)).collect::<Vec<_>>());
        let kb = GroupKey::new("feature", "kb");
        for i in 0..40 {
            let l = if i % 2 == 0 { &a } else { &b };
            l.add(&[kb], d(8), USD);
        }
        let total = seen_a.lock().unwrap().len() + seen_b.lock().unwrap().len();
        assert_eq!(total, 1);
    }
}
