//! The startup snapshot: a V8 heap image holding the Web API glue already
//! evaluated, so that a new isolate deserializes it instead of running
//! ~the whole `ext/` JS again. Built once per process on first use.

use std::borrow::Cow;
use std::sync::{LazyLock, OnceLock};

use crate::ext::{self, Glue};

/// Index of the `internals` object among the snapshot's context data.
pub(crate) const INTERNALS_INDEX: usize = 0;

static SNAPSHOT: OnceLock<&'static [u8]> = OnceLock::new();

/// What the snapshot names outside the V8 heap, for V8 to find again when
/// an isolate is made from it: the ops' callbacks (the `ops` object and
/// its functions come from the snapshot, not made anew for every isolate)
/// and the glue's source resources (each isolate's source strings point
/// at the binary's text).
pub(crate) fn external_references() -> Cow<'static, [v8::ExternalReference]> {
    // Ends with the null entry V8 looks for: given a list without it, the
    // crate copies the list to add one, for every isolate.
    static REFS: LazyLock<References> = LazyLock::new(|| {
        References(
            ext::ops()
                .into_iter()
                .map(|(_, callback)| v8::ExternalReference { function: callback })
                .chain(ext::js_sources().map(|glue| v8::ExternalReference {
                    pointer: std::ptr::from_ref(glue.source).cast_mut().cast(),
                }))
                .chain([v8::ExternalReference {
                    pointer: std::ptr::null_mut(),
                }])
                .collect(),
        )
    });
    Cow::Borrowed(REFS.0.as_slice())
}

/// Addresses of functions and of static string resources, and the closing
/// null, never written after they are collected.
struct References(Vec<v8::ExternalReference>);
// SAFETY: every entry is a function pointer (the union's `function` arm),
// the address of a `static` `OneByteConst` (which is `Sync`), or null:
// immutable and valid from any thread.
unsafe impl Send for References {}
// SAFETY: as for `Send`; the vector is not mutated once built.
unsafe impl Sync for References {}

/// The snapshot blob, built on first call.
pub(crate) fn blob() -> &'static [u8] {
    SNAPSHOT.get_or_init(|| {
        crate::platform::init();
        let started = std::time::Instant::now();
        let data = build();
        tracing::debug!(
            bytes = data.len(),
            ms = started.elapsed().as_millis() as u64,
            "startup snapshot built"
        );
        Box::leak(data.into_boxed_slice())
    })
}

/// Size of the startup snapshot in bytes (builds it if needed).
pub fn snapshot_size() -> usize {
    blob().len()
}

fn build() -> Vec<u8> {
    let mut creator = v8::Isolate::snapshot_creator(Some(external_references()), None);
    {
        v8::scope!(let scope, &mut creator);
        let context = v8::Context::new(scope, Default::default());
        let scope = &mut v8::ContextScope::new(scope, context);
        let ops = v8::Object::new(scope);
        for (name, callback) in ext::ops() {
            let f = v8::Function::new_raw(scope, callback).unwrap();
            let key = v8::String::new(scope, name).unwrap();
            ops.set(scope, key.into(), f.into());
        }
        let internals = v8::Object::new(scope);
        let global = context.global(scope);
        for glue in ext::js_sources() {
            run_glue(scope, glue, global, ops, internals);
        }
        scope.add_context_data(context, internals);
        scope.set_default_context(context);
    }
    let blob = creator
        .create_blob(v8::FunctionCodeHandling::Keep)
        .expect("V8 refused to create the startup snapshot");
    blob.to_vec()
}

/// Evaluates one glue file, wrapped as `function (globalThis, ops,
/// internals) {…}`, compiled whole if it is [`Glue::eager`]. A broken
/// glue file is a bug in this crate: it panics with the location.
fn run_glue(
    scope: &mut v8::PinScope,
    glue: &Glue,
    global: v8::Local<v8::Object>,
    ops: v8::Local<v8::Object>,
    internals: v8::Local<v8::Object>,
) {
    let code = v8::String::new_from_onebyte_const(scope, glue.source).unwrap();
    let resource = v8::String::new(scope, glue.name).unwrap();
    // Line offset -1: the first line is `glue_source!`'s wrapper, not the file's.
    let origin = v8::ScriptOrigin::new(scope, resource.into(), -1, 0, false, 0, None, false, false, false, None);
    let mut code = v8::script_compiler::Source::new(code, Some(&origin));
    let options = match glue.eager {
        true => v8::script_compiler::CompileOptions::EagerCompile,
        false => v8::script_compiler::CompileOptions::NoCompileOptions,
    };
    v8::tc_scope!(let tc, scope);
    let result = v8::script_compiler::compile(tc, &mut code, options, v8::script_compiler::NoCacheReason::NoReason)
        .and_then(|s| s.run(tc))
        .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
        .and_then(|f| {
            let undefined = v8::undefined(tc).into();
            f.call(tc, undefined, &[global.into(), ops.into(), internals.into()])
        });
    if result.is_none() {
        let err = crate::runtime::js_error_from_try_catch(tc);
        panic!(
            "runtime glue failed to evaluate: {err}\n{}",
            err.stack.clone().unwrap_or_default()
        );
    }
}
