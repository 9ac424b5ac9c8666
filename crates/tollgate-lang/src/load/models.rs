//! `[models.ALIAS]`: the models rules route to, and their prices (inline,
//! or from the price table by id).

use super::keys::{Keys, Val};
use super::Build;
use crate::policy::{Model, ModelIdx};
use crate::pricing::Prices;

impl Build<'_> {
    pub(super) fn models_table(&mut self, v: &Val<'_>) {
        let Some(t) = self.d.table(v, "models") else {
            return;
        };
        for (key, mv) in t.iter() {
            let alias = key.get_ref().to_string();
            let kspan = self.sp(key);
            let Some(mt) = self.d.table(mv, &format!("models.{alias}")) else {
                continue;
            };
            let what = format!("[models.{alias}]");
            let mut k = Keys::new(mt);
            if let Some(prev) = self
                .model_index
                .get(&alias)
                .and_then(|i| self.models.get(i.index()))
            {
                let loc = self.sources.location(prev.span);
                self.error(
                    "duplicate",
                    kspan,
                    format!("model `{alias}` is defined twice"),
                    Some(format!("it is already defined at {loc}")),
                );
                k.quiet();
            }
            let d = &mut self.d;
            let id = k.str(d, "id");
            let id = k.required(
                d,
                id,
                "id",
                kspan,
                &what,
                "\"us.anthropic.claude-sonnet-4-20250514-v1:0\"",
            );
            if id.is_none() && !k.is_quiet() {
                self.broken_models.insert(alias.clone());
                k.quiet();
            }
            let input = k.price(d, "input_per_mtok");
            let output = k.price(d, "output_per_mtok");
            let cw5 = k.price(d, "cache_write_5m_per_mtok");
            let cw1 = k.price(d, "cache_write_1h_per_mtok");
            let cr = k.price(d, "cache_read_per_mtok");
            let bi = k.price(d, "batch_input_per_mtok");
            let bo = k.price(d, "batch_output_per_mtok");
            let mut prices = None;
            if let (Some((id, id_span)), false) = (&id, k.is_quiet()) {
                prices = self.prices.lookup(id);
                if prices.is_none() {
                    match (input, output) {
                        (Some(_), Some(_)) => prices = Some(Prices::default()),
                        _ => {
                            d.error(
                                "unknown-price",
                                *id_span,
                                format!("no price for model id `{id}`"),
                                Some("add `input_per_mtok` and `output_per_mtok`, or use an id from the price table (rules/pricing/bedrock.toml)".into()),
                            );
                            self.broken_models.insert(alias.clone());
                            k.quiet();
                        }
                    }
                }
            }
            let max_out = k.u32(d, "max_output_tokens", 1);
            let pc_min = k.u32(d, "prompt_cache_min_tokens", 1);
            let _ = k.str(d, "description");
            let rejected = k.is_quiet();
            k.finish(d, &what);
            let (Some((id, _)), Some(mut p), false) = (id, prices, rejected) else {
                continue;
            };
            if let Some(x) = input {
                p.input = x;
            }
            if let Some(x) = output {
                p.output = x;
            }
            for (slot, v) in [
                (&mut p.cache_write_5m, cw5),
                (&mut p.cache_write_1h, cw1),
                (&mut p.cache_read, cr),
                (&mut p.batch_input, bi),
                (&mut p.batch_output, bo),
            ] {
                if v.is_some() {
                    *slot = v;
                }
            }
            let pc_min = pc_min.or(p.prompt_cache_min_tokens);
            let idx = ModelIdx(self.models.len() as u32);
            self.model_index.insert(alias.clone(), idx);
            self.models.push(Model {
                alias,
                id,
                prices: p,
                max_output_tokens: max_out,
                prompt_cache_min_tokens: pc_min,
                span: kspan,
            });
        }
    }
}
