//! Shared by the benchmarks: the product's module graph shape, so every benchmark measures the
//! same 15 modules with the same exact dependencies (4 waves).

/// (module id, dependencies) for the product's 15 modules.
pub const PRODUCT_SHAPE: &[(&str, &[&str])] = &[
    ("m01", &[]),
    ("m02", &[]),
    ("m03", &[]),
    ("m04", &[]),
    ("m05", &["m01", "m02"]),
    ("m06", &["m01"]),
    ("m07", &["m01", "m04"]),
    ("m08", &["m04", "m07"]),
    ("m09", &["m01", "m06"]),
    ("m10", &["m06"]),
    ("m11", &["m02", "m05"]),
    ("m12", &["m11"]),
    ("m13", &["m03", "m04", "m10"]),
    ("m14", &["m07", "m08", "m11"]),
    ("m15", &["m09", "m10", "m11"]),
];
