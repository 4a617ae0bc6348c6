//! The `url` Web API family: `URL`, `URLSearchParams`, `URLPattern`, and the
//! MIME type and `data:` URL helpers the fetch family uses. See README.md
//! beside this file.

mod parser;
mod pattern;
mod record;

use std::borrow::Cow;
use std::mem::MaybeUninit;

use crate::ext::Glue;
use crate::ops::{OpDecl, js_string, op, throw_type_error, to_string};
use record::{Offsets, Setter, UrlRecord};

/// Glue files, in load order.
pub(crate) const JS: &[Glue] = &[
    Glue::eager("ext:url/01_url.js", glue_source!(include_str!("01_url.js"))),
    Glue::lazy(
        "ext:url/02_urlpattern.js",
        glue_source!(include_str!("02_urlpattern.js")),
    ),
    Glue::lazy("ext:url/03_mime.js", glue_source!(include_str!("03_mime.js"))),
    Glue::lazy("ext:url/04_data_url.js", glue_source!(include_str!("04_data_url.js"))),
];

/// Native ops of this family.
pub(crate) fn ops() -> Vec<OpDecl> {
    vec![
        op!(op_url_parse),
        op!(op_url_reparse),
        op!(op_urlpattern_parse),
        op!(op_urlpattern_process_match_input),
    ]
}

/// Writes `offsets` into the `Int32Array` the glue passed in.
fn write_offsets(target: v8::Local<v8::Value>, offsets: Offsets) {
    let Ok(view) = v8::Local::<v8::Int32Array>::try_from(target) else {
        return;
    };
    let values = offsets.to_array();
    if view.byte_length() < std::mem::size_of_val(&values) {
        return;
    }
    let data = view.data() as *mut i32;
    if data.is_null() {
        return;
    }
    for (i, v) in values.iter().enumerate() {
        // SAFETY: the view spans at least `values.len()` i32s (checked
        // above) starting at `data`; its backing store is kept alive by the
        // view handle for this call and no JS runs meanwhile, so it cannot be
        // detached. Unaligned writes make no alignment assumption.
        unsafe { data.add(i).write_unaligned(*v) };
    }
}

/// Returns the serialization, reusing the input string when it is already
/// canonical (the common `new URL(request.url)` case allocates nothing).
fn return_href(
    scope: &mut v8::PinScope,
    input: v8::Local<v8::Value>,
    input_text: &str,
    href: &str,
    rv: &mut v8::ReturnValue<v8::Value>,
) {
    if href == input_text && input.is_string() {
        rv.set(input);
    } else {
        rv.set(js_string(scope, href).into());
    }
}

/// A JS value as text, read into `buffer` when it fits (no allocation for
/// the usual URL).
fn text<'a>(
    scope: &mut v8::PinScope,
    value: v8::Local<v8::Value>,
    buffer: &'a mut [MaybeUninit<u8>; 1024],
) -> Cow<'a, str> {
    match v8::Local::<v8::String>::try_from(value) {
        Ok(s) => s.to_rust_cow_lossy(scope, buffer),
        Err(_) => Cow::Owned(to_string(scope, value)),
    }
}

/// `op_url_parse(input, base | undefined, offsets: Int32Array) -> href | null`
fn op_url_parse(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue<v8::Value>) {
    let input_value = args.get(0);
    let mut buffer = [MaybeUninit::uninit(); 1024];
    let input = text(scope, input_value, &mut buffer);
    let base_value = args.get(1);
    let parsed = if base_value.is_undefined() {
        UrlRecord::parse(&input, None)
    } else {
        let base = to_string(scope, base_value);
        UrlRecord::parse(&input, Some(&base))
    };
    let Some(url) = parsed else {
        rv.set_null();
        return;
    };
    let (href, offsets) = url.serialize();
    write_offsets(args.get(2), offsets);
    return_href(scope, input_value, &input, &href, &mut rv);
}

/// `op_url_reparse(href, setter, value, offsets) -> href | null`; null only
/// when the href setter's value does not parse.
fn op_url_reparse(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue<v8::Value>) {
    let href_value = args.get(0);
    let mut buffer = [MaybeUninit::uninit(); 1024];
    let href = text(scope, href_value, &mut buffer);
    let Some(setter) = crate::ops::u32_arg(scope, args.get(1)).and_then(Setter::from_u32) else {
        throw_type_error(scope, "unknown URL setter");
        return;
    };
    let value = to_string(scope, args.get(2));
    let Some(mut url) = UrlRecord::parse(&href, None) else {
        rv.set_null();
        return;
    };
    if !url.set(setter, &value) {
        rv.set_null();
        return;
    }
    let (new_href, offsets) = url.serialize();
    write_offsets(args.get(3), offsets);
    return_href(scope, href_value, &href, &new_href, &mut rv);
}

/// `op_urlpattern_parse(inputJson, baseURL | undefined, ignoreCase) -> json`;
/// throws a TypeError when the pattern is invalid.
fn op_urlpattern_parse(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let input = to_string(scope, args.get(0));
    let base = args.get(1);
    let base = if base.is_undefined() {
        None
    } else {
        Some(to_string(scope, base))
    };
    let ignore_case = args.get(2).boolean_value(scope);
    match pattern::parse(&input, base.as_deref(), ignore_case) {
        Ok(json) => rv.set(js_string(scope, &json).into()),
        Err(message) => throw_type_error(scope, &message),
    }
}

/// `op_urlpattern_process_match_input(inputJson, baseURL | undefined) ->
/// json | null`: canonicalizes a URLPatternInit for matching.
fn op_urlpattern_process_match_input(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let input = to_string(scope, args.get(0));
    let base = args.get(1);
    let base = if base.is_undefined() {
        None
    } else {
        Some(to_string(scope, base))
    };
    match pattern::process_match_input(&input, base.as_deref()) {
        Ok(Some(json)) => rv.set(js_string(scope, &json).into()),
        Ok(None) => rv.set_null(),
        Err(message) => throw_type_error(scope, &message),
    }
}
