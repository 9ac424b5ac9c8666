//! How a group's rules spread over the values of the attribute chosen to
//! split it: the buckets of a string (one per value mentioned, plus any
//! other string), of an int (the intervals between every range's end
//! points), of a bool, or of presence.

use super::dispatch::Dispatch;
use super::intern::Form;
use super::mask::ConsMask;
use rustc_hash::FxHashMap;

/// A rule in a group: its spec and the constraints still to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Entry {
    /// Index of the rule's [`RuleSpec`](super::rules::RuleSpec).
    pub(crate) spec: u32,
    /// The constraints still to check.
    pub(crate) mask: ConsMask,
}

/// How a group's constrained rules spread over an attribute's values.
pub(crate) enum Plan {
    Str {
        values: Vec<Box<str>>,
        buckets: Vec<Vec<Entry>>,
        other: Vec<Entry>,
    },
    Int {
        cuts: Vec<i64>,
        buckets: Vec<Vec<Entry>>,
    },
    Bool {
        yes: Vec<Entry>,
        no: Vec<Entry>,
    },
    Present {
        present: Vec<Entry>,
    },
}

impl Plan {
    pub(crate) fn buckets_mut(&mut self) -> Vec<&mut Vec<Entry>> {
        match self {
            Plan::Str { buckets, other, .. } => {
                buckets.iter_mut().chain(std::iter::once(other)).collect()
            }
            Plan::Int { buckets, .. } => buckets.iter_mut().collect(),
            Plan::Bool { yes, no } => vec![yes, no],
            Plan::Present { present } => vec![present],
        }
    }

    pub(crate) fn buckets(&self) -> Vec<&Vec<Entry>> {
        match self {
            Plan::Str { buckets, other, .. } => {
                buckets.iter().chain(std::iter::once(other)).collect()
            }
            Plan::Int { buckets, .. } => buckets.iter().collect(),
            Plan::Bool { yes, no } => vec![yes, no],
            Plan::Present { present } => vec![present],
        }
    }
}

/// Merge two groups, each in rule order.
pub(crate) fn merge(a: &[Entry], b: &[Entry]) -> Vec<Entry> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (a.iter().peekable(), b.iter().peekable());
    loop {
        let next = match (i.peek(), j.peek()) {
            (Some(x), Some(y)) if x.spec <= y.spec => i.next(),
            (Some(_), Some(_)) | (None, Some(_)) => j.next(),
            (Some(_), None) => i.next(),
            (None, None) => break,
        };
        out.extend(next.copied());
    }
    out
}

/// Spread the constrained rules of a group over the values of an attribute
/// dispatched as `kind`; each entry comes with the constraint on it.
pub(crate) fn plan(kind: Option<Dispatch>, c: &[(Entry, &Form)]) -> Plan {
    match kind {
        Some(Dispatch::Str) => {
            let mut values: Vec<&str> = c
                .iter()
                .flat_map(|(_, f)| match f {
                    Form::StrIn(s) | Form::StrNotIn(s) => s.as_slice(),
                    _ => &[],
                })
                .map(|s| &**s)
                .collect();
            values.sort_unstable();
            values.dedup();
            let at: FxHashMap<&str, usize> =
                values.iter().enumerate().map(|(i, v)| (*v, i)).collect();
            let mut buckets = vec![Vec::new(); values.len()];
            let mut other = Vec::new();
            for (e, f) in c {
                match f {
                    Form::StrIn(s) => {
                        for i in s.iter().filter_map(|v| at.get(&**v)) {
                            if let Some(b) = buckets.get_mut(*i) {
                                b.push(*e);
                            }
                        }
                    }
                    Form::StrNotIn(s) => {
                        for (v, b) in values.iter().zip(buckets.iter_mut()) {
                            if s.binary_search_by(|x| (**x).cmp(v)).is_err() {
                                b.push(*e);
                            }
                        }
                        other.push(*e);
                    }
                    _ => {
                        buckets.iter_mut().for_each(|b| b.push(*e));
                        other.push(*e);
                    }
                }
            }
            Plan::Str {
                values: values.into_iter().map(Box::from).collect(),
                buckets,
                other,
            }
        }
        Some(Dispatch::Int) => {
            let mut cuts: Vec<i64> = Vec::new();
            for (_, f) in c {
                if let Form::Int(r) = f {
                    for (lo, hi) in r {
                        if *lo != i64::MIN {
                            cuts.push(*lo);
                        }
                        if let Some(h) = hi.checked_add(1) {
                            cuts.push(h);
                        }
                    }
                }
            }
            cuts.sort_unstable();
            cuts.dedup();
            let at = |v: i64| cuts.partition_point(|c| *c <= v);
            let mut buckets = vec![Vec::new(); cuts.len() + 1];
            for (e, f) in c {
                match f {
                    Form::Int(r) => {
                        for (lo, hi) in r {
                            for b in buckets.iter_mut().take(at(*hi) + 1).skip(at(*lo)) {
                                b.push(*e);
                            }
                        }
                    }
                    _ => buckets.iter_mut().for_each(|b| b.push(*e)),
                }
            }
            Plan::Int { cuts, buckets }
        }
        Some(Dispatch::Bool) => {
            let (mut yes, mut no) = (Vec::new(), Vec::new());
            for (e, f) in c {
                match f {
                    Form::Bool(true) => yes.push(*e),
                    Form::Bool(false) => no.push(*e),
                    _ => {
                        yes.push(*e);
                        no.push(*e);
                    }
                }
            }
            Plan::Bool { yes, no }
        }
        Some(Dispatch::Present(_)) | None => Plan::Present {
            present: c.iter().map(|(e, _)| *e).collect(),
        },
    }
}
