//! The `dom` Web API family: `DOMException`, `Event`, `CustomEvent`,
//! `EventTarget`, `AbortController`, `AbortSignal` and `structuredClone`.
//! See README.md beside this file.
//!
//! Almost everything is JS glue; the one op tells structuredClone what kind
//! of object V8 sees, which JS cannot find out reliably (a Proxy, a Promise,
//! a boxed primitive whose methods were replaced, …).

use crate::ext::Glue;
use crate::ops::{OpDecl, op};

/// Glue files, in load order.
pub(crate) const JS: &[Glue] = &[
    Glue::lazy(
        "ext:dom/00_dom_exception.js",
        glue_source!(include_str!("00_dom_exception.js")),
    ),
    Glue::lazy("ext:dom/10_event.js", glue_source!(include_str!("10_event.js"))),
    Glue::lazy("ext:dom/20_abort.js", glue_source!(include_str!("20_abort.js"))),
    Glue::lazy(
        "ext:dom/40_structured_clone.js",
        glue_source!(include_str!("40_structured_clone.js")),
    ),
];

/// Native ops of this family.
pub(crate) fn ops() -> Vec<OpDecl> {
    vec![op!(op_dom_classify)]
}

/// What structuredClone does with an object; the numbers are the `KIND_*`
/// constants of `40_structured_clone.js`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
enum Kind {
    /// An ordinary object (or one V8 has no predicate for): own properties.
    Object = 0,
    /// An `Array` exotic object.
    Array = 1,
    /// `new Boolean(…)`.
    Boolean = 2,
    /// `new Number(…)`.
    Number = 3,
    /// `Object(1n)`.
    BigInt = 4,
    /// `new String(…)`.
    String = 5,
    /// A `Date`.
    Date = 6,
    /// A `RegExp`.
    RegExp = 7,
    /// An `ArrayBuffer` (not shared).
    ArrayBuffer = 8,
    /// A `SharedArrayBuffer`.
    SharedArrayBuffer = 9,
    /// A typed array.
    TypedArray = 10,
    /// A `DataView`.
    DataView = 11,
    /// A `Map`.
    Map = 12,
    /// A `Set`.
    Set = 13,
    /// An object with `[[ErrorData]]` (errors and DOMExceptions).
    Error = 14,
    /// Anything callable.
    Function = 15,
    /// An object with internal slots structuredClone rejects: proxies,
    /// promises, weak collections, iterators, generators, symbol wrappers,
    /// module namespaces, wasm objects, externals.
    Uncloneable = 16,
}

/// Classifies an object for structuredClone. Order matters: a proxy is
/// rejected before anything looks through it.
fn classify(v: &v8::Value) -> Kind {
    if v.is_proxy() {
        Kind::Uncloneable
    } else if v.is_function() {
        Kind::Function
    } else if v.is_array() {
        Kind::Array
    } else if v.is_boolean_object() {
        Kind::Boolean
    } else if v.is_number_object() {
        Kind::Number
    } else if v.is_big_int_object() {
        Kind::BigInt
    } else if v.is_string_object() {
        Kind::String
    } else if v.is_date() {
        Kind::Date
    } else if v.is_reg_exp() {
        Kind::RegExp
    } else if v.is_array_buffer() {
        Kind::ArrayBuffer
    } else if v.is_shared_array_buffer() {
        Kind::SharedArrayBuffer
    } else if v.is_typed_array() {
        Kind::TypedArray
    } else if v.is_data_view() {
        Kind::DataView
    } else if v.is_map() {
        Kind::Map
    } else if v.is_set() {
        Kind::Set
    } else if v.is_native_error() {
        Kind::Error
    } else if v.is_symbol_object()
        || v.is_promise()
        || v.is_weak_map()
        || v.is_weak_set()
        || v.is_map_iterator()
        || v.is_set_iterator()
        || v.is_generator_object()
        || v.is_module_namespace_object()
        || v.is_wasm_module_object()
        || v.is_wasm_memory_object()
        || v.is_external()
    {
        Kind::Uncloneable
    } else {
        Kind::Object
    }
}

/// `op_dom_classify(value) -> number`: the `Kind` of an object.
fn op_dom_classify(_scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue<v8::Value>) {
    rv.set_uint32(classify(&args.get(0)) as u32);
}
