//! Citation helpers every module uses: covering nested pointers with an existing source, and
//! citing a call that produced no usable answer (so the note about it has a source too).

use chrono::Utc;
use pforge_budget::Call;
use pforge_core::{Citation, ModuleContext, ModuleOutput};

/// Adds `pointer` to the citation for `c`'s source (creating it), like `ModuleOutput::set` does
/// for top-level keys; used for nested values and for keys supported by several sources.
pub(crate) fn cover(out: &mut ModuleOutput, c: &Citation, pointer: &str) {
    match out
        .sources
        .iter_mut()
        .find(|x| x.source == c.source && x.provider == c.provider)
    {
        Some(x) => {
            if !x.covers.iter().any(|p| p == pointer) {
                x.covers.push(pointer.to_string());
            }
        }
        None => {
            let mut x = c.clone();
            x.covers = vec![pointer.to_string()];
            out.sources.push(x);
        }
    }
}

/// A citation for a call that produced no usable answer (the note about it needs a source too).
pub(crate) fn attempted(ctx: &ModuleContext, call: &Call) -> Citation {
    let source = ctx
        .gateway
        .url_for(call)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| format!("{}:{}", call.provider, call.path));
    Citation {
        source,
        provider: call.provider.clone(),
        fetched_at: Utc::now(),
        covers: Vec::new(),
        canonical: None,
        via: Vec::new(),
    }
}
