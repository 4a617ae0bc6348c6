//! Compiles a bundle's ES modules (and JSON/text modules), links their
//! relative imports and evaluates the main one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::bundle::{Bundle, ModuleKind, resolve};
use crate::error::{JsError, LoadError};
use crate::runtime::js_error_from_try_catch;

/// Modules compiled for the instantiation in progress, for the resolve
/// callback (which V8 calls without any context of ours).
#[derive(Default)]
struct ModuleMap {
    by_path: HashMap<String, v8::Global<v8::Module>>,
    /// (module, its path) — to find a referrer's path.
    paths: Vec<(v8::Global<v8::Module>, String)>,
}

type SharedMap = Rc<RefCell<ModuleMap>>;

/// Compiles every module reachable from `bundle.main`, instantiates and
/// evaluates the graph; returns the main module's namespace.
pub(crate) fn load<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    bundle: &Bundle,
) -> Result<v8::Local<'s, v8::Object>, LoadError> {
    if !bundle.modules.contains_key(&bundle.main) {
        return Err(LoadError::MissingMain(bundle.main.clone()));
    }
    let map: SharedMap = Rc::default();
    let main = compile_graph(scope, bundle, &map)?;
    scope.set_slot(map.clone());
    let result = instantiate_and_evaluate(scope, main, &bundle.main);
    scope.remove_slot::<SharedMap>();
    // Drop the map's handles now that linking is done.
    map.borrow_mut().by_path.clear();
    map.borrow_mut().paths.clear();
    result?;
    let ns = main.get_module_namespace();
    Ok(ns.try_into().expect("module namespace is an object"))
}

/// Compiles every JavaScript module of `bundle` and links the graph
/// reachable from `bundle.main`, without running any of it: what a control
/// plane checks before it accepts a bundle.
pub(crate) fn check(scope: &mut v8::PinScope, bundle: &Bundle) -> Result<(), LoadError> {
    if !bundle.modules.contains_key(&bundle.main) {
        return Err(LoadError::MissingMain(bundle.main.clone()));
    }
    let map: SharedMap = Rc::default();
    let main = compile_graph(scope, bundle, &map)?;
    // Modules nothing imports yet must compile too.
    for (path, source) in &bundle.modules {
        if !map.borrow().by_path.contains_key(path) {
            compile_one(scope, path, source.kind, &source.code)?;
        }
    }
    scope.set_slot(map.clone());
    let linked = {
        v8::tc_scope!(let tc, scope);
        if main.instantiate_module(tc, resolve_callback) == Some(true) {
            Ok(())
        } else {
            Err(LoadError::Evaluate(with_file(
                js_error_from_try_catch(tc),
                &bundle.main,
            )))
        }
    };
    scope.remove_slot::<SharedMap>();
    map.borrow_mut().by_path.clear();
    map.borrow_mut().paths.clear();
    linked
}

fn compile_graph<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    bundle: &Bundle,
    map: &SharedMap,
) -> Result<v8::Local<'s, v8::Module>, LoadError> {
    let mut queue = vec![bundle.main.clone()];
    let mut main = None;
    while let Some(path) = queue.pop() {
        if map.borrow().by_path.contains_key(&path) {
            continue;
        }
        let source = &bundle.modules[&path];
        let module = compile_one(scope, &path, source.kind, &source.code)?;
        if main.is_none() {
            main = Some(module);
        }
        let requests = module.get_module_requests();
        for i in 0..requests.length() {
            let req: v8::Local<v8::ModuleRequest> = requests.get(scope, i).unwrap().try_into().unwrap();
            let specifier = req.get_specifier().to_rust_string_lossy(scope);
            let loc = module.source_offset_to_location(req.get_source_offset());
            let target = resolve(&path, &specifier).filter(|t| bundle.modules.contains_key(t));
            match target {
                Some(t) => queue.push(t),
                None => {
                    return Err(LoadError::Resolve {
                        file: path.clone(),
                        line: loc.get_line_number() as usize + 1,
                        column: loc.get_column_number() as usize + 1,
                        specifier,
                    });
                }
            }
        }
        let global = v8::Global::new(scope, module);
        let mut m = map.borrow_mut();
        m.by_path.insert(path.clone(), global.clone());
        m.paths.push((global, path));
    }
    Ok(main.expect("main compiled"))
}

fn compile_one<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    path: &str,
    kind: ModuleKind,
    code: &str,
) -> Result<v8::Local<'s, v8::Module>, LoadError> {
    let wrapped;
    let text = match kind {
        ModuleKind::JavaScript => code,
        ModuleKind::Json => {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(code) {
                return Err(LoadError::Json {
                    file: format!("{path}:{}:{}", e.line(), e.column()),
                    message: e.to_string(),
                });
            }
            wrapped = format!("export default {code}\n;");
            &wrapped
        }
        ModuleKind::Text => {
            wrapped = format!("export default {};", serde_json::Value::String(code.to_string()));
            &wrapped
        }
    };
    let source_text = v8::String::new(scope, text).ok_or_else(|| {
        LoadError::Compile(JsError {
            message: "module too large".into(),
            file: path.into(),
            line: 1,
            column: 1,
            stack: None,
        })
    })?;
    let name = v8::String::new(scope, path).unwrap();
    let origin = v8::ScriptOrigin::new(scope, name.into(), 0, 0, false, 0, None, false, false, true, None);
    let mut source = v8::script_compiler::Source::new(source_text, Some(&origin));
    v8::tc_scope!(let tc, scope);
    match v8::script_compiler::compile_module(tc, &mut source) {
        Some(m) => Ok(m),
        None => {
            let mut err = js_error_from_try_catch(tc);
            if err.file.is_empty() {
                err.file = path.to_string();
            }
            err.stack = None;
            Err(LoadError::Compile(err))
        }
    }
}

fn instantiate_and_evaluate(
    scope: &mut v8::PinScope,
    main: v8::Local<v8::Module>,
    main_path: &str,
) -> Result<(), LoadError> {
    v8::tc_scope!(let tc, scope);
    if main.instantiate_module(tc, resolve_callback) != Some(true) {
        let err = js_error_from_try_catch(tc);
        return Err(LoadError::Evaluate(with_file(err, main_path)));
    }
    let result = main.evaluate(tc);
    if !tc.has_terminated() {
        tc.perform_microtask_checkpoint();
    }
    if tc.has_terminated() {
        // A limit stopped the evaluation; the runtime reports which.
        return Err(LoadError::Evaluate(JsError {
            message: "execution terminated".into(),
            file: main_path.to_string(),
            line: 0,
            column: 0,
            stack: None,
        }));
    }
    if main.get_status() == v8::ModuleStatus::Errored {
        let exc = main.get_exception();
        let message = crate::runtime::describe_exception(tc, exc);
        let msg = v8::Exception::create_message(tc, exc);
        let file = msg
            .get_script_resource_name(tc)
            .map(|n| n.to_rust_string_lossy(tc))
            .unwrap_or_default();
        let line = msg.get_line_number(tc).unwrap_or(0);
        let column = msg.get_start_column() + 1;
        return Err(LoadError::Evaluate(with_file(
            JsError {
                message,
                file,
                line,
                column,
                stack: None,
            },
            main_path,
        )));
    }
    if result.is_none() {
        let err = js_error_from_try_catch(tc);
        return Err(LoadError::Evaluate(with_file(err, main_path)));
    }
    Ok(())
}

fn with_file(mut err: JsError, path: &str) -> JsError {
    if err.file.is_empty() {
        err.file = path.to_string();
    }
    err
}

fn resolve_callback<'s>(
    context: v8::Local<'s, v8::Context>,
    specifier: v8::Local<'s, v8::String>,
    _import_attributes: v8::Local<'s, v8::FixedArray>,
    referrer: v8::Local<'s, v8::Module>,
) -> Option<v8::Local<'s, v8::Module>> {
    v8::callback_scope!(unsafe scope, context);
    let map = scope.get_slot::<SharedMap>()?.clone();
    let map = map.borrow();
    let specifier = specifier.to_rust_string_lossy(scope);
    let referrer_path = map
        .paths
        .iter()
        .find(|(m, _)| v8::Local::new(scope, m) == referrer)
        .map(|(_, p)| p.clone())?;
    let target = resolve(&referrer_path, &specifier)?;
    let global = map.by_path.get(&target)?;
    Some(v8::Local::new(scope, global))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::{Bundle, ModuleKind, ModuleSource, validate};

    fn bundle(files: &[(&str, &str)]) -> Bundle {
        let modules: BTreeMap<String, ModuleSource> = files
            .iter()
            .map(|(p, c)| {
                let kind = ModuleKind::from_path(p).expect("a module path");
                (
                    p.to_string(),
                    ModuleSource {
                        kind,
                        code: c.to_string(),
                    },
                )
            })
            .collect();
        Bundle {
            modules,
            main: files[0].0.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn validation_compiles_and_links_without_running_anything() {
        // An endless top-level loop would never finish if it ran.
        let ok = bundle(&[
            (
                "main.js",
                "import { x } from './lib.js';\nfor (;;) {}\nexport default { fetch() {} };",
            ),
            ("lib.js", "export const x = 1;"),
            ("data.json", "{\"a\": 1}"),
        ]);
        validate(&ok).expect("valid");
    }

    #[test]
    fn validation_reports_file_line_col() {
        let err = validate(&bundle(&[
            ("main.js", "export default {};"),
            ("unused.js", "\nlet = ;"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("unused.js:2:"), "{err}");
        let err = validate(&bundle(&[("main.js", "import './missing.js';")])).unwrap_err();
        assert!(err.to_string().contains("main.js:1:"), "{err}");
        let err = validate(&bundle(&[
            ("main.js", "import { nope } from './lib.js';"),
            ("lib.js", "export const x = 1;"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
