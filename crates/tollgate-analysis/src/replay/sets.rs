//! `--set ATTR=VALUE`: values for attributes the data lacks, typed by the
//! policy's schema.

use super::*;

/// Parses `ATTR=VALUE` strings.
pub fn parse_sets(items: &[String]) -> Result<Vec<(String, String)>, ReplayError> {
    items
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(a, v)| (a.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| ReplayError::NoEquals(s.clone()))
        })
        .collect()
}

pub(super) fn owned_value(name: &str, ty: Type, value: &str) -> Result<Owned, ReplayError> {
    let bad = || ReplayError::BadValue {
        name: name.to_owned(),
        value: value.to_owned(),
        ty,
    };
    let list = || -> Vec<&str> {
        value
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|s| s.trim().trim_matches('"'))
            .filter(|s| !s.is_empty())
            .collect()
    };
    Ok(match ty {
        Type::Bool => Owned::Bool(value.trim().parse().map_err(|_| bad())?),
        Type::Int => Owned::Int(value.trim().parse().map_err(|_| bad())?),
        Type::Float => Owned::Float(value.trim().parse().map_err(|_| bad())?),
        Type::String => Owned::Str(value.to_owned()),
        Type::List(Elem::String) => Owned::StrList(list().into_iter().map(str::to_owned).collect()),
        Type::List(Elem::Int) => Owned::IntList(
            list()
                .into_iter()
                .map(|s| s.parse().map_err(|_| bad()))
                .collect::<Result<_, _>>()?,
        ),
        Type::List(_) | Type::Duration => return Err(bad()),
        Type::Timestamp => {
            Owned::Timestamp(tollgate_lang::Timestamp::parse(value.trim()).ok_or_else(bad)?)
        }
        // A map<string, int> is a JSON object of integers: `quota={"a":3}`.
        Type::IntMap => {
            let obj: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(value.trim()).map_err(|_| bad())?;
            Owned::IntMap(
                obj.into_iter()
                    .map(|(k, v)| Some((k, v.as_i64()?)))
                    .collect::<Option<_>>()
                    .ok_or_else(bad)?,
            )
        }
        // A map is written as a JSON object of strings: `meta={"team":"a"}`.
        Type::StrMap => {
            let obj: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(value.trim()).map_err(|_| bad())?;
            Owned::StrMap(
                obj.into_iter()
                    .map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                    .collect::<Option<_>>()
                    .ok_or_else(bad)?,
            )
        }
    })
}
