//! Shared by the benchmarks: the product's module graph, taken from the real module specs
//! (`pforge_modules::builtin_specs`), so every benchmark measures the same 15 modules with the
//! same exact dependencies as the product and cannot drift from it.

/// (module id, dependencies) for the product's 15 modules, in registration order.
pub fn product_shape() -> Vec<(String, Vec<String>)> {
    pforge_modules::builtin_specs()
        .into_iter()
        .map(|s| (s.id, s.dependencies))
        .collect()
}
