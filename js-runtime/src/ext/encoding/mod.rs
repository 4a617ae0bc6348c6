//! The `encoding` Web API family: `TextEncoder`, `TextDecoder`,
//! `TextEncoderStream`, `TextDecoderStream`, `atob` and `btoa`. Decoding
//! uses `encoding_rs`, which implements every encoding and label of the
//! WHATWG Encoding Standard. See README.md beside this file.

use encoding_rs::{DecoderResult, Encoding, UTF_8};

use crate::ext::Glue;
use crate::ops::{
    OpDecl, op, resource_add, resource_take, resource_with, throw_range_error, throw_type_error, to_string,
    uint8_array, with_bytes,
};

/// Glue files, in load order.
pub(crate) const JS: &[Glue] = &[
    Glue::lazy(
        "ext:encoding/01_encoding.js",
        glue_source!(include_str!("01_encoding.js")),
    ),
    Glue::lazy("ext:encoding/02_base64.js", glue_source!(include_str!("02_base64.js"))),
];

/// Native ops of this family.
pub(crate) fn ops() -> Vec<OpDecl> {
    vec![
        op!(op_encoding_normalize_label),
        op!(op_encoding_decode_utf8),
        op!(op_encoding_decode),
        op!(op_encoding_decoder_new),
        op!(op_encoding_decoder_decode),
        op!(op_encoding_decoder_free),
        op!(op_encoding_encode),
        op!(op_encoding_encode_into),
    ]
}

const INVALID_DATA: &str = "The encoded data is not valid.";

/// A streaming decoder kept in the resource table between `decode()` calls.
struct StreamDecoder(encoding_rs::Decoder);

/// The encoding named by a label, by the standard's label table.
fn encoding_for(scope: &mut v8::PinScope, value: v8::Local<v8::Value>) -> Option<&'static Encoding> {
    let label = to_string(scope, value);
    Encoding::for_label(label.as_bytes())
}

/// Makes a JS string, throwing a RangeError when it is too long.
fn set_string(scope: &mut v8::PinScope, rv: &mut v8::ReturnValue<v8::Value>, text: &str) {
    match v8::String::new(scope, text) {
        Some(s) => rv.set(s.into()),
        None => throw_range_error(scope, "The decoded string is too long"),
    }
}

/// Decodes all of `input` with a fresh decoder; `None` when `fatal` and the
/// input is malformed.
fn decode_all(encoding: &'static Encoding, input: &[u8], fatal: bool, ignore_bom: bool) -> Option<String> {
    let mut decoder = if ignore_bom {
        encoding.new_decoder_without_bom_handling()
    } else {
        encoding.new_decoder_with_bom_removal()
    };
    decode_chunk(&mut decoder, input, true, fatal)
}

/// Feeds one chunk to a decoder; `None` when `fatal` and it is malformed.
fn decode_chunk(decoder: &mut encoding_rs::Decoder, mut input: &[u8], last: bool, fatal: bool) -> Option<String> {
    let mut out = String::new();
    loop {
        let needed = if fatal {
            decoder.max_utf8_buffer_length_without_replacement(input.len())
        } else {
            decoder.max_utf8_buffer_length(input.len())
        };
        out.reserve(needed.unwrap_or(input.len().saturating_mul(3)).max(4));
        if fatal {
            let (result, read) = decoder.decode_to_string_without_replacement(input, &mut out, last);
            input = &input[read..];
            match result {
                DecoderResult::InputEmpty => return Some(out),
                DecoderResult::OutputFull => continue,
                DecoderResult::Malformed(_, _) => return None,
            }
        } else {
            let (result, read, _) = decoder.decode_to_string(input, &mut out, last);
            input = &input[read..];
            if result == encoding_rs::CoderResult::InputEmpty {
                return Some(out);
            }
        }
    }
}

/// `op_encoding_normalize_label(label) -> name | null`: the lowercase
/// encoding name for a label (`"replacement"` included; the glue rejects it).
fn op_encoding_normalize_label(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    match encoding_for(scope, args.get(0)) {
        Some(encoding) => {
            let name = encoding.name().to_ascii_lowercase();
            set_string(scope, &mut rv, &name);
        }
        None => rv.set_null(),
    }
}

/// `op_encoding_decode_utf8(buffer, fatal, ignoreBOM) -> string`: the UTF-8
/// one-shot fast path.
fn op_encoding_decode_utf8(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let fatal = args.get(1).boolean_value(scope);
    let ignore_bom = args.get(2).boolean_value(scope);
    let decoded = with_bytes(args.get(0), |bytes| {
        let bytes = if !ignore_bom {
            bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
        } else {
            bytes
        };
        match std::str::from_utf8(bytes) {
            // Valid: V8 builds the string straight from the bytes.
            Ok(_) => Ok(v8::String::new_from_utf8(scope, bytes, v8::NewStringType::Normal)),
            Err(_) if fatal => Err(()),
            Err(_) => {
                let text = UTF_8.decode_without_bom_handling(bytes).0;
                Ok(v8::String::new(scope, &text))
            }
        }
    });
    match decoded {
        None => throw_type_error(
            scope,
            "The provided value is not of type '(ArrayBuffer or ArrayBufferView)'",
        ),
        Some(Err(())) => throw_type_error(scope, INVALID_DATA),
        Some(Ok(Some(s))) => rv.set(s.into()),
        Some(Ok(None)) => throw_range_error(scope, "The decoded string is too long"),
    }
}

/// `op_encoding_decode(buffer, label, fatal, ignoreBOM) -> string`: one-shot
/// decode in any encoding.
fn op_encoding_decode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(encoding) = encoding_for(scope, args.get(1)) else {
        throw_range_error(scope, "Unknown encoding");
        return;
    };
    let fatal = args.get(2).boolean_value(scope);
    let ignore_bom = args.get(3).boolean_value(scope);
    match with_bytes(args.get(0), |bytes| decode_all(encoding, bytes, fatal, ignore_bom)) {
        None => throw_type_error(
            scope,
            "The provided value is not of type '(ArrayBuffer or ArrayBufferView)'",
        ),
        Some(None) => throw_type_error(scope, INVALID_DATA),
        Some(Some(text)) => set_string(scope, &mut rv, &text),
    }
}

/// `op_encoding_decoder_new(label, ignoreBOM) -> id`: a streaming decoder.
fn op_encoding_decoder_new(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(encoding) = encoding_for(scope, args.get(0)) else {
        throw_range_error(scope, "Unknown encoding");
        return;
    };
    let decoder = if args.get(1).boolean_value(scope) {
        encoding.new_decoder_without_bom_handling()
    } else {
        encoding.new_decoder_with_bom_removal()
    };
    let id = resource_add(scope, StreamDecoder(decoder));
    rv.set_uint32(id);
}

/// `op_encoding_decoder_decode(id, buffer, stream, fatal) -> string`; when
/// `stream` is false this is the last chunk and the decoder is dropped.
fn op_encoding_decoder_decode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let stream = args.get(2).boolean_value(scope);
    let fatal = args.get(3).boolean_value(scope);
    let input = args.get(1);
    // Copy the chunk out first: the resource table borrow must not overlap
    // anything that could call back into JS.
    let bytes = if input.is_undefined() {
        Some(Vec::new())
    } else {
        crate::ops::to_bytes(input)
    };
    let Some(bytes) = bytes else {
        throw_type_error(
            scope,
            "The provided value is not of type '(ArrayBuffer or ArrayBufferView)'",
        );
        return;
    };
    let decoded = resource_with::<StreamDecoder, _>(scope, id, |d| decode_chunk(&mut d.0, &bytes, !stream, fatal));
    if !stream || matches!(decoded, Some(None)) {
        let _ = resource_take::<StreamDecoder>(scope, id);
    }
    match decoded {
        None => throw_type_error(scope, "The decoder is closed"),
        Some(None) => throw_type_error(scope, INVALID_DATA),
        Some(Some(text)) => set_string(scope, &mut rv, &text),
    }
}

/// `op_encoding_decoder_free(id)`: drops an unfinished streaming decoder.
fn op_encoding_decoder_free(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(id) = crate::ops::u32_arg(scope, args.get(0)) {
        let _ = resource_take::<StreamDecoder>(scope, id);
    }
}

/// `op_encoding_encode(string) -> Uint8Array` (lone surrogates become
/// U+FFFD).
fn op_encoding_encode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let text = to_string(scope, args.get(0));
    let array = uint8_array(scope, text.into_bytes());
    rv.set(array.into());
}

/// `op_encoding_encode_into(string, dest: Uint8Array, out: Uint32Array)`:
/// writes as many whole characters as fit; `out` receives [read, written]
/// (read in UTF-16 code units).
fn op_encoding_encode_into(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let Ok(source) = v8::Local::<v8::String>::try_from(args.get(0)) else {
        throw_type_error(scope, "source must be a string");
        return;
    };
    let Ok(dest) = v8::Local::<v8::Uint8Array>::try_from(args.get(1)) else {
        throw_type_error(scope, "destination must be a Uint8Array");
        return;
    };
    let Ok(out) = v8::Local::<v8::Uint32Array>::try_from(args.get(2)) else {
        throw_type_error(scope, "internal: result buffer missing");
        return;
    };
    let capacity = dest.byte_length();
    let mut read = 0usize;
    let mut written = 0usize;
    let data = dest.data() as *mut u8;
    if capacity > 0 && !data.is_null() {
        // SAFETY: `data` points at the view's `capacity` bytes inside its
        // backing store, which the `dest` handle keeps alive for this call;
        // no JS runs while the slice exists, so it cannot be detached.
        let buffer = unsafe { std::slice::from_raw_parts_mut(data, capacity) };
        written = source.write_utf8_v2(scope, buffer, v8::WriteFlags::kReplaceInvalidUtf8, Some(&mut read));
    }
    let result = [read as u32, written as u32];
    if out.byte_length() >= std::mem::size_of_val(&result) {
        let ptr = out.data() as *mut u32;
        if !ptr.is_null() {
            for (i, v) in result.iter().enumerate() {
                // SAFETY: `out` spans at least two u32s (checked above) and is
                // kept alive by its handle; no JS runs meanwhile.
                unsafe { ptr.add(i).write_unaligned(*v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{decode_all, decode_chunk};
    use encoding_rs::{SHIFT_JIS, UTF_8, UTF_16LE, WINDOWS_1252};

    #[test]
    fn one_shot_decoding() {
        assert_eq!(decode_all(UTF_8, b"\xEF\xBB\xBFhi", false, false).unwrap(), "hi");
        assert_eq!(decode_all(UTF_8, b"\xEF\xBB\xBFhi", false, true).unwrap(), "\u{FEFF}hi");
        assert_eq!(decode_all(UTF_8, b"a\xFFb", false, false).unwrap(), "a\u{FFFD}b");
        assert!(decode_all(UTF_8, b"a\xFFb", true, false).is_none());
        assert_eq!(decode_all(WINDOWS_1252, b"\x80\xE9", false, false).unwrap(), "€é");
        assert_eq!(decode_all(SHIFT_JIS, b"\x82\xA0", false, false).unwrap(), "あ");
        assert_eq!(decode_all(UTF_16LE, b"\xFF\xFEa\x00", false, false).unwrap(), "a");
    }

    #[test]
    fn streaming_keeps_partial_characters() {
        let mut d = UTF_8.new_decoder_with_bom_removal();
        assert_eq!(decode_chunk(&mut d, b"\xE2\x82", false, true).unwrap(), "");
        assert_eq!(decode_chunk(&mut d, b"\xAC!", true, true).unwrap(), "€!");
        let mut d = UTF_8.new_decoder_with_bom_removal();
        assert_eq!(decode_chunk(&mut d, b"\xE2\x82", false, false).unwrap(), "");
        assert_eq!(decode_chunk(&mut d, b"", true, false).unwrap(), "\u{FFFD}");
    }
}
