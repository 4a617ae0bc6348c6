//! One V8 platform per process, initialised on first use.

use std::sync::Once;

static INIT: Once = Once::new();

/// Initialises V8 once for the whole process: ICU data (without it `Intl`
/// hangs), flags, the platform. Safe to call from any thread, any number of
/// times; every [`crate::Runtime`] constructor calls it.
pub fn init() {
    INIT.call_once(|| {
        // The V8 archive carries no ICU data; give it ICU 78's full set.
        v8::icu::set_common_data_78(deno_core_icudata::ICU_DATA).expect("ICU data rejected");
        // Microtasks are run explicitly after each call into JS; stack size
        // leaves room below the worker threads' 8 MiB stacks for Rust frames.
        v8::V8::set_flags_from_string("--stack-size=984");
        let platform = v8::new_unprotected_default_platform(0, false).make_shared();
        v8::V8::initialize_platform(platform);
        v8::V8::initialize();
    });
}
