//! `[attributes]`: the attributes rules read, by name and type.

use super::keys::Val;
use super::Build;
use crate::diag::did_you_mean;
use crate::schema::Type;

impl Build<'_> {
    pub(super) fn attributes(&mut self, v: &Val<'_>) {
        let Some(t) = self.d.table(v, "attributes") else {
            return;
        };
        for (k, ty) in t.iter() {
            let name = k.get_ref().to_string();
            let kspan = self.sp(k);
            let Some(ty_s) = ty.get_ref().as_str() else {
                self.d
                    .wrong_type(&name, ty, "a type name such as \"string\"");
                continue;
            };
            let tspan = self.sp(ty);
            let Some(parsed) = Type::parse_attr(ty_s) else {
                let help = did_you_mean(ty_s, Type::ATTR_TYPES).or_else(|| {
                    Some(format!(
                        "the types are {}",
                        Type::ATTR_TYPES.map(|t| format!("`{t}`")).join(", ")
                    ))
                });
                self.error(
                    "unknown-type",
                    tspan,
                    format!("unknown attribute type `{ty_s}`"),
                    help,
                );
                continue;
            };
            if name.is_empty()
                || name.split('.').any(|p| {
                    p.is_empty()
                        || !p
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            {
                self.error(
                    "invalid-name",
                    kspan,
                    format!("`{name}` is not a valid attribute name"),
                    Some("names are identifiers joined by dots, e.g. `user.tier`".into()),
                );
                continue;
            }
            if let Some(word) = name
                .split('.')
                .find(|p| matches!(*p, "true" | "false" | "null" | "in"))
            {
                self.error(
                    "invalid-name",
                    kspan,
                    format!("attribute `{name}` uses the reserved word `{word}`"),
                    Some("rename it: rules could not refer to it".into()),
                );
                continue;
            }
            if let Some(prev) = self.attr_spans.get(&name) {
                let loc = self.sources.location(*prev);
                self.error(
                    "duplicate",
                    kspan,
                    format!("attribute `{name}` is declared twice"),
                    Some(format!("it is already declared at {loc}")),
                );
                continue;
            }
            self.attr_spans.insert(name.clone(), kspan);
            if self.opts.schema.is_some() {
                match self.schema.id(&name).and_then(|id| self.schema.get(id).map(|d| (id, d.ty))) {
                    Some((id, t)) if t == parsed => self.declared.push(id),
                    Some((_, t)) => self.error(
                        "schema-mismatch",
                        tspan,
                        format!("attribute `{name}` is `{t}` in the application's schema, not `{parsed}`"),
                        Some("the schema is fixed while the application runs: keep the type, or restart with a new schema".into()),
                    ),
                    None => self.error(
                        "schema-mismatch",
                        kspan,
                        format!("attribute `{name}` is not in the application's schema"),
                        Some("the schema is fixed while the application runs: add the attribute to it and restart".into()),
                    ),
                }
            } else {
                match self.schema.add(&name, parsed) {
                    Ok(id) => self.declared.push(id),
                    Err(e) => self.error("limit", kspan, e.to_string(), None),
                }
            }
        }
    }
}
