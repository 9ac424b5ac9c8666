//! Running a policy's `[[test]]` cases.

use crate::decision::{rule_name, Decision};
use crate::{Context, Request};
use tollgate_lang::{Expect, Policy, TestCase};

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `route`, `model`, `cache`, ...
    pub what: String,
    /// What the test expects.
    pub expected: String,
    /// What the policy decided.
    pub actual: String,
}

/// How one test case came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// The case's name.
    pub name: String,
    /// `path:line:col` of the case.
    pub location: String,
    /// Every expectation that failed; empty when the case passed.
    pub mismatches: Vec<Mismatch>,
    /// The request could not be read.
    pub request_error: Option<String>,
}

impl TestResult {
    /// Did the case pass?
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty() && self.request_error.is_none()
    }
}

/// Run one case with `decide`.
pub fn run_case(
    policy: &Policy,
    case: &TestCase,
    decide: &dyn Fn(&Context<'_>) -> Decision,
) -> TestResult {
    let location = policy.sources().location(case.span);
    let mut result = TestResult {
        name: case.name.clone(),
        location,
        mismatches: Vec::new(),
        request_error: None,
    };
    let req = match Request::from_map(policy.schema(), &case.request) {
        Ok(r) => r,
        Err(e) => {
            result.request_error = Some(e.to_string());
            return result;
        }
    };
    let ctx = req.context(policy.schema());
    let d = decide(&ctx);
    for (sec, exp) in &case.expect {
        let actual = rule_name(policy, *sec, d.rule(*sec));
        let expected = match exp {
            Expect::None => "none",
            Expect::Rule(r) => r.as_str(),
        };
        if actual != expected {
            result.mismatches.push(Mismatch {
                what: sec.name().to_string(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    if let Some(m) = &case.expect_model {
        let actual = policy
            .model(d.model)
            .map(|m| m.alias.as_str())
            .unwrap_or("");
        if actual != m {
            result.mismatches.push(Mismatch {
                what: "model".into(),
                expected: m.clone(),
                actual: actual.to_string(),
            });
        }
    }
    if let Some(cap) = case.expect_max_output_tokens {
        if cap != d.max_output_tokens {
            let show = |c: Option<u32>| c.map(|c| c.to_string()).unwrap_or_else(|| "none".into());
            result.mismatches.push(Mismatch {
                what: "max_output_tokens".into(),
                expected: show(cap),
                actual: show(d.max_output_tokens),
            });
        }
    }
    if let Some(t) = case.expect_service_tier {
        if t != d.service_tier {
            let show = |t: Option<tollgate_lang::Tier>| t.map_or("none", |t| t.name());
            result.mismatches.push(Mismatch {
                what: "service_tier".into(),
                expected: show(t).into(),
                actual: show(d.service_tier).into(),
            });
        }
    }
    if let Some(l) = case.expect_latency {
        if l != d.latency {
            let show = |l: Option<tollgate_lang::Latency>| l.map_or("none", |l| l.name());
            result.mismatches.push(Mismatch {
                what: "latency".into(),
                expected: show(l).into(),
                actual: show(d.latency).into(),
            });
        }
    }
    result
}

/// Run every case of the policy.
pub fn run_tests(policy: &Policy, decide: &dyn Fn(&Context<'_>) -> Decision) -> Vec<TestResult> {
    policy
        .tests()
        .iter()
        .map(|c| run_case(policy, c, decide))
        .collect()
}
