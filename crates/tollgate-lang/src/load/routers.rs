//! `[routers.NAME]`: learned routers, read and checked at load, whose
//! scores rules read as float attributes.

use super::keys::{Keys, Val};
use super::Build;
use crate::schema::Type;
use std::path::Path;

impl Build<'_> {
    /// `[routers.NAME] model = "path"`: the file is read and checked now
    /// (an error points at the `model` key), and `NAME.gain` and
    /// `NAME.gain_per_usd` become float attributes.
    pub(super) fn routers_table(&mut self, v: &Val<'_>) {
        use crate::router::{Router, RouterModel};
        let Some(t) = self.d.table(v, "routers") else {
            return;
        };
        for (key, rv) in t.iter() {
            let name = key.get_ref().to_string();
            let kspan = self.sp(key);
            let Some(rt) = self.d.table(rv, &format!("routers.{name}")) else {
                continue;
            };
            let d = &mut self.d;
            let mut k = Keys::new(rt);
            let mspan = k.key_span(d, "model");
            let model = k.str(d, "model");
            let _ = k.str(d, "description");
            k.finish(d, &format!("[routers.{name}]"));
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !matches!(name.as_str(), "true" | "false" | "null" | "in");
            if !valid {
                self.error(
                    "invalid-name",
                    kspan,
                    format!("`{name}` is not a valid router name"),
                    Some(
                        "a router name is an identifier: its scores are read as `NAME.gain`".into(),
                    ),
                );
                continue;
            }
            if let Some(prev) = self.routers.iter().find(|r| r.name == name) {
                let loc = self.sources.location(prev.span);
                self.error(
                    "duplicate",
                    kspan,
                    format!("router `{name}` is defined twice"),
                    Some(format!("it is already defined at {loc}")),
                );
                continue;
            }
            let Some(mspan) = mspan else {
                self.error(
                    "missing-key",
                    kspan,
                    format!("`[routers.{name}]` has no `model`"),
                    Some("add `model = \"routers/NAME.model\"` (a file written by `tollgate route-train`)".into()),
                );
                continue;
            };
            let Some((rel, _)) = model else {
                continue;
            };
            let base = self
                .sources
                .get(self.d.file)
                .and_then(|f| Path::new(&f.path).parent().map(Path::to_path_buf))
                .unwrap_or_default();
            let path = base.join(&rel);
            let shown = path.display().to_string();
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    self.error(
                        "router-model",
                        mspan,
                        format!("cannot read router model `{shown}`: {e}"),
                        Some("the path is relative to the policy file; write one with `tollgate route-train --out`".into()),
                    );
                    continue;
                }
            };
            let model = match RouterModel::from_bytes(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    self.error(
                        "router-model",
                        mspan,
                        format!("router model `{shown}`: {e}"),
                        Some("retrain it with `tollgate route-train --out`".into()),
                    );
                    continue;
                }
            };
            let mut ids = Vec::new();
            for attr in ["gain", "gain_per_usd"] {
                let full = format!("{name}.{attr}");
                let id = if self.opts.schema.is_some() {
                    match self
                        .schema
                        .id(&full)
                        .and_then(|id| self.schema.get(id).map(|d| (id, d.ty)))
                    {
                        Some((id, Type::Float)) => Some(id),
                        _ => {
                            self.error(
                                "schema-mismatch",
                                kspan,
                                format!("router attribute `{full}` is not a float of the application's schema"),
                                Some("the schema is fixed while the application runs: add the attribute as `float` and restart".into()),
                            );
                            None
                        }
                    }
                } else {
                    match self.schema.add(&full, Type::Float) {
                        Ok(id) => Some(id),
                        Err(e) => {
                            self.error(
                                "schema-mismatch",
                                kspan,
                                e.to_string(),
                                Some("a router's scores are floats".into()),
                            );
                            None
                        }
                    }
                };
                ids.extend(id);
            }
            let [gain, gain_per_usd] = ids[..] else {
                continue;
            };
            self.routers.push(Router {
                name,
                path: shown,
                model: std::sync::Arc::new(model),
                file_hash: xxhash_rust::xxh3::xxh3_64(&bytes),
                gain,
                gain_per_usd,
                span: mspan,
            });
        }
    }
}
