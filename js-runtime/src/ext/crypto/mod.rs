//! The `crypto` Web API family: `crypto.getRandomValues`, `randomUUID` and
//! `crypto.subtle` (digest, HMAC, PBKDF2). See README.md beside this file.
//!
//! The JS glue does the WebIDL conversions, algorithm normalization and key
//! bookkeeping; the ops here do the byte work with the RustCrypto crates.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::ext::Glue;
use crate::ops::{OpDecl, js_string, op, throw_dom_exception, throw_type_error, to_string, uint8_array, with_bytes};

/// Glue files, in load order.
pub(crate) const JS: &[Glue] = &[
    Glue::lazy(
        "ext:crypto/00_crypto_key.js",
        glue_source!(include_str!("00_crypto_key.js")),
    ),
    Glue::lazy("ext:crypto/01_subtle.js", glue_source!(include_str!("01_subtle.js"))),
    Glue::lazy("ext:crypto/02_crypto.js", glue_source!(include_str!("02_crypto.js"))),
];

/// Native ops of this family.
pub(crate) fn ops() -> Vec<OpDecl> {
    vec![
        op!(op_crypto_get_random_values),
        op!(op_crypto_random_uuid),
        op!(op_crypto_digest),
        op!(op_crypto_hmac_sign),
        op!(op_crypto_hmac_verify),
        op!(op_crypto_pbkdf2),
        op!(op_crypto_base64url_encode),
        op!(op_crypto_base64url_decode),
    ]
}

/// The hash functions WebCrypto names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// The hash from its normalized WebCrypto name (`"SHA-256"`).
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "SHA-1" => Some(Self::Sha1),
            "SHA-256" => Some(Self::Sha256),
            "SHA-384" => Some(Self::Sha384),
            "SHA-512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

/// The digest of `data`.
fn digest(hash: Hash, data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha1 => Sha1::digest(data).to_vec(),
        Hash::Sha256 => Sha256::digest(data).to_vec(),
        Hash::Sha384 => Sha384::digest(data).to_vec(),
        Hash::Sha512 => Sha512::digest(data).to_vec(),
    }
}

/// Runs `$body` with `$mac` bound to a fresh `Hmac<hash>` keyed with `$key`.
macro_rules! with_hmac {
    ($hash:expr, $key:expr, |$mac:ident| $body:expr) => {
        match $hash {
            Hash::Sha1 => {
                let $mac = <Hmac<Sha1> as Mac>::new_from_slice($key).expect("HMAC accepts keys of any length");
                $body
            }
            Hash::Sha256 => {
                let $mac = <Hmac<Sha256> as Mac>::new_from_slice($key).expect("HMAC accepts keys of any length");
                $body
            }
            Hash::Sha384 => {
                let $mac = <Hmac<Sha384> as Mac>::new_from_slice($key).expect("HMAC accepts keys of any length");
                $body
            }
            Hash::Sha512 => {
                let $mac = <Hmac<Sha512> as Mac>::new_from_slice($key).expect("HMAC accepts keys of any length");
                $body
            }
        }
    };
}

/// HMAC of `data` under `key`.
fn hmac_sign(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    with_hmac!(hash, key, |mac| {
        let mut mac = mac;
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    })
}

/// True when `signature` is the HMAC of `data` under `key`; the comparison
/// takes the same time wherever the bytes differ.
fn hmac_verify(hash: Hash, key: &[u8], data: &[u8], signature: &[u8]) -> bool {
    with_hmac!(hash, key, |mac| {
        let mut mac = mac;
        mac.update(data);
        mac.verify_slice(signature).is_ok()
    })
}

/// PBKDF2 (RFC 8018 §5.2) with HMAC as the PRF, written over the `hmac`
/// crate because the `pbkdf2` crate is not a dependency of this workspace.
fn pbkdf2<M: Mac + Clone>(prf: M, salt: &[u8], iterations: u32, out: &mut [u8]) {
    let hlen = <M as hmac::digest::OutputSizeUser>::output_size();
    for (i, block) in out.chunks_mut(hlen).enumerate() {
        let index = u32::try_from(i + 1).expect("PBKDF2 block index fits u32");
        let mut mac = prf.clone();
        mac.update(salt);
        mac.update(&index.to_be_bytes());
        let mut u = mac.finalize().into_bytes();
        let mut t = u.clone();
        for _ in 1..iterations {
            let mut mac = prf.clone();
            mac.update(&u);
            u = mac.finalize().into_bytes();
            for (a, b) in t.iter_mut().zip(u.iter()) {
                *a ^= b;
            }
        }
        block.copy_from_slice(&t[..block.len()]);
    }
}

/// PBKDF2-HMAC-`hash` of `password` and `salt`, `len` bytes long.
fn pbkdf2_hmac(hash: Hash, password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    with_hmac!(hash, password, |prf| pbkdf2(prf, salt, iterations, &mut out));
    out
}

/// A version 4 UUID in its lowercase hyphenated form, from 16 random bytes.
fn format_uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from_digit(u32::from(byte >> 4), 16).expect("nibble"));
        s.push(char::from_digit(u32::from(byte & 0x0f), 16).expect("nibble"));
    }
    s
}

/// Base64url with or without `=` padding (JWK members omit it; some
/// producers add it).
const BASE64URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn hash_arg(scope: &mut v8::PinScope, value: v8::Local<v8::Value>) -> Option<Hash> {
    let name = to_string(scope, value);
    let hash = Hash::from_name(&name);
    if hash.is_none() {
        throw_dom_exception(
            scope,
            &format!("Unrecognized hash algorithm: {name}"),
            "NotSupportedError",
        );
    }
    hash
}

/// `op_crypto_get_random_values(view)`: fills an integer typed array (the
/// glue checked its type and the 65,536-byte limit) with random bytes.
fn op_crypto_get_random_values(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(args.get(0)) else {
        return throw_type_error(scope, "getRandomValues: expected an ArrayBufferView");
    };
    let len = view.byte_length();
    if len == 0 {
        return;
    }
    let data = view.data() as *mut u8;
    if data.is_null() {
        return;
    }
    // SAFETY: `data` points at the view's first byte and the view spans
    // `len` bytes of its backing store, which the view handle keeps alive for
    // this call; no JS runs while the slice exists, so nothing can detach or
    // resize the buffer under it.
    let bytes = unsafe { std::slice::from_raw_parts_mut(data, len) };
    if let Err(e) = getrandom::fill(bytes) {
        throw_dom_exception(scope, &format!("random number generator failed: {e}"), "OperationError");
    }
}

/// `op_crypto_random_uuid() -> string`.
fn op_crypto_random_uuid(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let mut b = [0u8; 16];
    if let Err(e) = getrandom::fill(&mut b) {
        return throw_dom_exception(scope, &format!("random number generator failed: {e}"), "OperationError");
    }
    rv.set(js_string(scope, &format_uuid_v4(b)).into());
}

/// `op_crypto_digest(hashName, bytes) -> Uint8Array`.
fn op_crypto_digest(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue<v8::Value>) {
    let Some(hash) = hash_arg(scope, args.get(0)) else {
        return;
    };
    let Some(out) = with_bytes(args.get(1), |data| digest(hash, data)) else {
        return throw_type_error(scope, "digest: expected a BufferSource");
    };
    rv.set(uint8_array(scope, out).into());
}

/// `op_crypto_hmac_sign(hashName, key, data) -> Uint8Array`.
fn op_crypto_hmac_sign(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(hash) = hash_arg(scope, args.get(0)) else {
        return;
    };
    let out = with_bytes(args.get(1), |key| {
        with_bytes(args.get(2), |data| hmac_sign(hash, key, data))
    })
    .flatten();
    let Some(out) = out else {
        return throw_type_error(scope, "hmac sign: expected BufferSources");
    };
    rv.set(uint8_array(scope, out).into());
}

/// `op_crypto_hmac_verify(hashName, key, data, signature) -> boolean`.
fn op_crypto_hmac_verify(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(hash) = hash_arg(scope, args.get(0)) else {
        return;
    };
    let ok = with_bytes(args.get(1), |key| {
        with_bytes(args.get(2), |data| {
            with_bytes(args.get(3), |sig| hmac_verify(hash, key, data, sig))
        })
    })
    .flatten()
    .flatten();
    let Some(ok) = ok else {
        return throw_type_error(scope, "hmac verify: expected BufferSources");
    };
    rv.set_bool(ok);
}

/// `op_crypto_pbkdf2(hashName, password, salt, iterations, lengthInBytes) -> Uint8Array`.
fn op_crypto_pbkdf2(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue<v8::Value>) {
    let Some(hash) = hash_arg(scope, args.get(0)) else {
        return;
    };
    let iterations = crate::ops::u32_arg(scope, args.get(3)).unwrap_or(0);
    let len = crate::ops::u32_arg(scope, args.get(4)).unwrap_or(0) as usize;
    let out = with_bytes(args.get(1), |password| {
        with_bytes(args.get(2), |salt| pbkdf2_hmac(hash, password, salt, iterations, len))
    })
    .flatten();
    let Some(out) = out else {
        return throw_type_error(scope, "pbkdf2: expected BufferSources");
    };
    rv.set(uint8_array(scope, out).into());
}

/// `op_crypto_base64url_encode(bytes) -> string` (no padding, as JWK wants).
fn op_crypto_base64url_encode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(text) = with_bytes(args.get(0), |b| URL_SAFE_NO_PAD.encode(b)) else {
        return throw_type_error(scope, "base64url: expected a BufferSource");
    };
    rv.set(js_string(scope, &text).into());
}

/// `op_crypto_base64url_decode(string) -> Uint8Array | null` (null when it
/// is not base64url).
fn op_crypto_base64url_decode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let text = to_string(scope, args.get(0));
    match BASE64URL_LENIENT.decode(text.as_bytes()) {
        Ok(bytes) => rv.set(uint8_array(scope, bytes).into()),
        Err(_) => rv.set_null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn sha_known_answers() {
        assert_eq!(
            hex(&digest(Hash::Sha1, b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&digest(Hash::Sha256, b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(digest(Hash::Sha384, b"").len(), 48);
        assert_eq!(digest(Hash::Sha512, b"").len(), 64);
    }

    #[test]
    fn hmac_rfc4231_case_2() {
        let mac = hmac_sign(Hash::Sha256, b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hmac_verify(
            Hash::Sha256,
            b"Jefe",
            b"what do ya want for nothing?",
            &mac
        ));
        assert!(!hmac_verify(
            Hash::Sha256,
            b"Jefe",
            b"what do ya want for nothing?",
            &mac[..31]
        ));
        let mut bad = mac.clone();
        bad[0] ^= 1;
        assert!(!hmac_verify(
            Hash::Sha256,
            b"Jefe",
            b"what do ya want for nothing?",
            &bad
        ));
    }

    #[test]
    fn pbkdf2_rfc6070_vectors() {
        // RFC 6070 (PBKDF2-HMAC-SHA1).
        assert_eq!(
            hex(&pbkdf2_hmac(Hash::Sha1, b"password", b"salt", 2, 20)),
            "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"
        );
        assert_eq!(
            hex(&pbkdf2_hmac(
                Hash::Sha1,
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                25
            )),
            "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"
        );
        // PBKDF2-HMAC-SHA256, c = 1 (from RFC 7914 §11).
        assert_eq!(
            pbkdf2_hmac(Hash::Sha256, b"passwd", b"salt", 1, 64),
            unhex(
                "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
                 49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
            )
        );
    }

    #[test]
    fn uuid_v4_shape() {
        let s = format_uuid_v4([0xff; 16]);
        assert_eq!(s, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let s = format_uuid_v4([0; 16]);
        assert_eq!(s, "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn base64url_lenient() {
        assert_eq!(BASE64URL_LENIENT.decode("_-8").unwrap(), vec![0xff, 0xef]);
        assert_eq!(BASE64URL_LENIENT.decode("_-8=").unwrap(), vec![0xff, 0xef]);
        assert!(BASE64URL_LENIENT.decode("a+b/").is_err());
        assert_eq!(URL_SAFE_NO_PAD.encode([0xff, 0xef]), "_-8");
    }
}
