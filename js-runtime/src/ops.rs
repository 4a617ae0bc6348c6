//! Native functions ("ops") that the JS glue calls, and helpers to write them.
//!
//! An op is a plain V8 function callback named `op_<family>_<verb>`. Each
//! family lists its ops in `ext/<family>/mod.rs`; after a context is made
//! from the snapshot they are bound onto the `ops` object that the glue
//! captured when the snapshot was built.

use std::cell::RefCell;
use std::rc::Rc;

use crate::runtime::State;

/// An op: its JS name and its callback.
pub(crate) type OpDecl = (&'static str, v8::FunctionCallback);

/// Declares an op list entry from a function of the usual callback shape.
macro_rules! op {
    ($f:ident) => {
        (stringify!($f), v8::MapFnTo::<v8::FunctionCallback>::map_fn_to($f))
    };
}
pub(crate) use op;

/// The runtime state of the isolate a callback runs in.
pub(crate) fn state(isolate: &v8::Isolate) -> Rc<RefCell<State>> {
    isolate
        .get_slot::<Rc<RefCell<State>>>()
        .expect("runtime state missing from isolate")
        .clone()
}

/// Throws a `TypeError` with `message`.
pub(crate) fn throw_type_error(scope: &mut v8::PinScope, message: &str) {
    let msg = v8::String::new(scope, message).unwrap();
    let exc = v8::Exception::type_error(scope, msg);
    scope.throw_exception(exc);
}

/// Throws a `RangeError` with `message`.
pub(crate) fn throw_range_error(scope: &mut v8::PinScope, message: &str) {
    let msg = v8::String::new(scope, message).unwrap();
    let exc = v8::Exception::range_error(scope, msg);
    scope.throw_exception(exc);
}

/// Throws a `DOMException` named `name` (falls back to `Error` when the
/// class is missing).
pub(crate) fn throw_dom_exception(scope: &mut v8::PinScope, message: &str, name: &str) {
    let context = scope.get_current_context();
    let global = context.global(scope);
    let key = v8::String::new(scope, "DOMException").unwrap();
    let msg = v8::String::new(scope, message).unwrap();
    let exc = match global
        .get(scope, key.into())
        .and_then(|c| v8::Local::<v8::Function>::try_from(c).ok())
    {
        Some(ctor) => {
            let n = v8::String::new(scope, name).unwrap();
            ctor.new_instance(scope, &[msg.into(), n.into()]).map(Into::into)
        }
        None => None,
    };
    let exc = exc.unwrap_or_else(|| v8::Exception::error(scope, msg));
    scope.throw_exception(exc);
}

/// Calls `f` with the UTF-8 bytes of `value` (converted as [`to_string`]
/// does), without copying them first when it is an ASCII string.
pub(crate) fn with_string_bytes<R>(
    scope: &mut v8::PinScope,
    value: v8::Local<v8::Value>,
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    if let Ok(s) = v8::Local::<v8::String>::try_from(value) {
        let view = v8::ValueView::new(scope, s);
        if let v8::ValueViewData::OneByte(bytes) = view.data()
            && bytes.is_ascii()
        {
            return f(bytes);
        }
    }
    f(to_string(scope, value).as_bytes())
}

/// An unsigned 32-bit argument: read straight off a small integer, which
/// is what JS passes for ids and statuses; anything else is converted as
/// `ToUint32` would.
pub(crate) fn u32_arg(scope: &mut v8::PinScope, value: v8::Local<v8::Value>) -> Option<u32> {
    match v8::Local::<v8::Uint32>::try_from(value) {
        Ok(n) => Some(n.value()),
        Err(_) => value.uint32_value(scope),
    }
}

/// A JS string's UTF-8 bytes (lone surrogates as U+FFFD), copied once.
pub(crate) fn string_bytes(scope: &mut v8::PinScope, value: v8::Local<v8::Value>) -> bytes::Bytes {
    with_string_bytes(scope, value, bytes::Bytes::copy_from_slice)
}

/// A JS string (or anything, converted with `String(x)`) as a Rust string.
pub(crate) fn to_string(scope: &mut v8::PinScope, value: v8::Local<v8::Value>) -> String {
    if let Ok(s) = v8::Local::<v8::String>::try_from(value) {
        return s.to_rust_string_lossy(scope);
    }
    match value.to_string(scope) {
        Some(s) => s.to_rust_string_lossy(scope),
        None => String::new(),
    }
}

/// The bytes of an `ArrayBuffer` or `ArrayBufferView`, copied out; `None`
/// for anything else.
pub(crate) fn to_bytes(value: v8::Local<v8::Value>) -> Option<Vec<u8>> {
    if let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(value) {
        let mut out = vec![0u8; view.byte_length()];
        view.copy_contents(&mut out);
        return Some(out);
    }
    if let Ok(buf) = v8::Local::<v8::ArrayBuffer>::try_from(value) {
        let len = buf.byte_length();
        let mut out = vec![0u8; len];
        if let Some(ptr) = buf.data() {
            // SAFETY: `data` points at `len` readable bytes owned by the
            // ArrayBuffer, which stays alive (it is a Local in this scope).
            let src = unsafe { std::slice::from_raw_parts(ptr.as_ptr() as *const u8, len) };
            out.copy_from_slice(src);
        }
        return Some(out);
    }
    None
}

/// Runs `f` with the bytes of an `ArrayBufferView`/`ArrayBuffer` without
/// copying them; `None` for anything else.
pub(crate) fn with_bytes<R>(value: v8::Local<v8::Value>, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    if let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(value) {
        let len = view.byte_length();
        if len == 0 {
            return Some(f(&[]));
        }
        if let Some(store) = view.get_backing_store() {
            let base = store.data()?.as_ptr() as *const u8;
            // SAFETY: the view lies inside its backing store (offset + len ≤
            // store length), which `store` keeps alive for this call; JS
            // cannot run while `f` executes, so nothing detaches it.
            let bytes = unsafe { std::slice::from_raw_parts(base.add(view.byte_offset()), len) };
            return Some(f(bytes));
        }
        let mut tmp = vec![0u8; len];
        view.copy_contents(&mut tmp);
        return Some(f(&tmp));
    }
    if let Ok(buf) = v8::Local::<v8::ArrayBuffer>::try_from(value) {
        let len = buf.byte_length();
        let Some(ptr) = buf.data() else { return Some(f(&[])) };
        // SAFETY: `data` points at `len` bytes owned by the ArrayBuffer,
        // alive for this call; no JS runs while `f` does.
        let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr() as *const u8, len) };
        return Some(f(bytes));
    }
    None
}

/// A new `Uint8Array` that takes ownership of `bytes` (no copy).
pub(crate) fn uint8_array<'s>(scope: &mut v8::PinScope<'s, '_>, bytes: Vec<u8>) -> v8::Local<'s, v8::Uint8Array> {
    let len = bytes.len();
    let store = v8::ArrayBuffer::new_backing_store_from_vec(bytes).make_shared();
    let buf = v8::ArrayBuffer::with_backing_store(scope, &store);
    v8::Uint8Array::new(scope, buf, 0, len).expect("Uint8Array")
}

/// Bodies up to this size that are valid UTF-8 reach JS as a string (see
/// [`whole_body`]); larger ones stay outside the V8 heap.
const STRING_BODY_MAX: usize = 64 * 1024;

/// A whole body for JS's `BodyState`: a string when the bytes are valid
/// UTF-8 and small, else a `Uint8Array`. The string is lossless (a leading
/// BOM stays, so encoding it gives back the same bytes), and a body read as
/// text or JSON, the common case, needs no buffer and no decoding in JS.
pub(crate) fn whole_body<'s>(scope: &mut v8::PinScope<'s, '_>, bytes: &[u8]) -> v8::Local<'s, v8::Value> {
    if bytes.len() <= STRING_BODY_MAX
        && std::str::from_utf8(bytes).is_ok()
        && let Some(s) = v8::String::new_from_utf8(scope, bytes, v8::NewStringType::Normal)
    {
        return s.into();
    }
    uint8_array(scope, bytes.to_vec()).into()
}

/// The isolate's one copy of ASCII string `s` (internalized): the same
/// string as every literal of that text in JS, made once per isolate.
pub(crate) fn intern(scope: &mut v8::PinScope, s: &str) -> v8::Global<v8::String> {
    let s = v8::String::new_from_one_byte(scope, s.as_bytes(), v8::NewStringType::Internalized).unwrap();
    v8::Global::new(scope, s)
}

/// A JS string from UTF-8 text.
pub(crate) fn js_string<'s>(scope: &mut v8::PinScope<'s, '_>, s: &str) -> v8::Local<'s, v8::String> {
    v8::String::new(scope, s).unwrap_or_else(|| v8::String::empty(scope))
}

/// Per-isolate table of native objects that JS refers to by a numeric id
/// (a compressor, a hash state, …). Everything left in it is dropped with
/// the isolate.
#[derive(Default)]
pub(crate) struct ResourceTable {
    next: u32,
    items: std::collections::HashMap<u32, Box<dyn std::any::Any>>,
}

impl ResourceTable {
    pub(crate) fn add<T: 'static>(&mut self, value: T) -> u32 {
        self.next = self.next.wrapping_add(1);
        self.items.insert(self.next, Box::new(value));
        self.next
    }

    pub(crate) fn get_mut<T: 'static>(&mut self, id: u32) -> Option<&mut T> {
        self.items.get_mut(&id)?.downcast_mut::<T>()
    }

    pub(crate) fn take<T: 'static>(&mut self, id: u32) -> Option<T> {
        if !self.items.get(&id)?.is::<T>() {
            return None;
        }
        self.items.remove(&id)?.downcast::<T>().ok().map(|b| *b)
    }
}

/// Stores `value` in the isolate's resource table; returns its id.
pub(crate) fn resource_add<T: 'static>(isolate: &v8::Isolate, value: T) -> u32 {
    state(isolate).borrow_mut().resources.add(value)
}

/// Runs `f` on the resource `id` if it exists and has type `T`.
pub(crate) fn resource_with<T: 'static, R>(isolate: &v8::Isolate, id: u32, f: impl FnOnce(&mut T) -> R) -> Option<R> {
    let state = state(isolate);
    let mut state = state.borrow_mut();
    state.resources.get_mut::<T>(id).map(f)
}

/// Removes the resource `id` and returns it, if it has type `T`.
pub(crate) fn resource_take<T: 'static>(isolate: &v8::Isolate, id: u32) -> Option<T> {
    state(isolate).borrow_mut().resources.take::<T>(id)
}
