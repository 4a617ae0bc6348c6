//! The `compression` Web API family: `CompressionStream` and
//! `DecompressionStream` (<https://compression.spec.whatwg.org/>) for
//! "gzip", "deflate" (zlib) and "deflate-raw". See README.md beside this file.
//!
//! Each stream owns one native codec in the isolate's resource table; the
//! glue feeds it chunk by chunk. Deflate itself is flate2's; the gzip
//! framing (RFC 1952 header and CRC-32/ISIZE trailer) is done here because
//! flate2's streaming `Compress`/`Decompress` only know zlib and raw deflate.

use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress, Status};

use crate::ext::Glue;
use crate::ops::{
    OpDecl, op, resource_add, resource_take, resource_with, throw_type_error, to_string, uint8_array, with_bytes,
};

/// Glue files, in load order.
pub(crate) const JS: &[Glue] = &[Glue::lazy(
    "ext:compression/01_compression.js",
    glue_source!(include_str!("01_compression.js")),
)];

/// Native ops of this family.
pub(crate) fn ops() -> Vec<OpDecl> {
    vec![
        op!(op_compression_new),
        op!(op_compression_write),
        op!(op_compression_finish),
        op!(op_compression_close),
    ]
}

/// A compression format of the Compression Standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// RFC 1952 gzip.
    Gzip,
    /// RFC 1950 zlib ("deflate" in the web platform's naming).
    Deflate,
    /// RFC 1951 raw deflate.
    DeflateRaw,
}

impl Format {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "gzip" => Some(Self::Gzip),
            "deflate" => Some(Self::Deflate),
            "deflate-raw" => Some(Self::DeflateRaw),
            _ => None,
        }
    }
}

/// Why decompression failed; each becomes a JS `TypeError`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum CodecError {
    /// The input is not a valid stream of the format.
    #[error("The compressed data is corrupt: {0}")]
    Corrupt(&'static str),
    /// Bytes follow the end of the compressed stream.
    #[error("Junk found after the end of the compressed data")]
    TrailingData,
    /// The input ended before the compressed stream did.
    #[error("The compressed data was truncated")]
    Truncated,
}

/// Fixed gzip member header: magic, CM=deflate, no flags, no mtime, XFL=0,
/// OS=255 (unknown).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff];

/// Spare output room to keep ahead of the codec between calls.
const MIN_SPARE: usize = 4096;

fn reserve_spare(out: &mut Vec<u8>, hint: usize) {
    if out.capacity() - out.len() < MIN_SPARE / 4 {
        out.reserve(MIN_SPARE.max(hint));
    }
}

/// A streaming compressor.
pub(crate) struct Encoder {
    format: Format,
    inner: Compress,
    crc: Crc,
    header_written: bool,
}

impl Encoder {
    pub(crate) fn new(format: Format) -> Self {
        Self {
            format,
            inner: Compress::new(Compression::default(), format == Format::Deflate),
            crc: Crc::new(),
            header_written: false,
        }
    }

    fn write_header(&mut self, out: &mut Vec<u8>) {
        if self.format == Format::Gzip && !self.header_written {
            out.extend_from_slice(&GZIP_HEADER);
            self.header_written = true;
        }
    }

    /// Compresses `input`; returns whatever output the codec released.
    pub(crate) fn write(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_header(&mut out);
        if self.format == Format::Gzip {
            self.crc.update(input);
        }
        self.run(input, FlushCompress::None, &mut out);
        out
    }

    /// Flushes the rest of the stream (and the gzip trailer).
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_header(&mut out);
        self.run(&[], FlushCompress::Finish, &mut out);
        if self.format == Format::Gzip {
            out.extend_from_slice(&self.crc.sum().to_le_bytes());
            out.extend_from_slice(&self.crc.amount().to_le_bytes());
        }
        out
    }

    fn run(&mut self, mut input: &[u8], flush: FlushCompress, out: &mut Vec<u8>) {
        loop {
            reserve_spare(out, input.len() / 2 + 64);
            let spare = out.capacity() - out.len();
            let (before_in, before_out) = (self.inner.total_in(), self.inner.total_out());
            // Deflating only fails on misuse of the API (not on data).
            let Ok(status) = self.inner.compress_vec(input, out, flush) else {
                return;
            };
            let consumed = (self.inner.total_in() - before_in) as usize;
            let produced = (self.inner.total_out() - before_out) as usize;
            input = &input[consumed..];
            if flush == FlushCompress::Finish {
                if status == Status::StreamEnd {
                    return;
                }
            } else if input.is_empty() && produced < spare {
                return;
            }
            if consumed == 0 && produced == 0 && status == Status::BufError && produced < spare {
                return;
            }
        }
    }
}

/// Where a decoder is in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Collecting the gzip header (in `Decoder::buf`).
    Header,
    /// Inflating.
    Body,
    /// Collecting the 8-byte gzip trailer (in `Decoder::buf`).
    Trailer,
    /// The stream ended; any more input is an error.
    Done,
}

/// A streaming decompressor.
pub(crate) struct Decoder {
    format: Format,
    inner: Decompress,
    crc: Crc,
    stage: Stage,
    buf: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new(format: Format) -> Self {
        Self {
            format,
            inner: Decompress::new(format == Format::Deflate),
            crc: Crc::new(),
            stage: if format == Format::Gzip {
                Stage::Header
            } else {
                Stage::Body
            },
            buf: Vec::new(),
        }
    }

    /// Decompresses `input`; returns the bytes it released.
    pub(crate) fn write(&mut self, input: &[u8]) -> Result<Vec<u8>, CodecError> {
        if self.stage == Stage::Header {
            self.buf.extend_from_slice(input);
            let Some(len) = gzip_header_len(&self.buf)? else {
                return Ok(Vec::new());
            };
            let rest = self.buf.split_off(len);
            self.buf.clear();
            self.stage = Stage::Body;
            return self.write_after_header(&rest);
        }
        self.write_after_header(input)
    }

    fn write_after_header(&mut self, mut input: &[u8]) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        if self.stage == Stage::Body && !input.is_empty() {
            input = self.inflate(input, FlushDecompress::None, &mut out)?;
        }
        if self.stage == Stage::Trailer && !input.is_empty() {
            let take = (8 - self.buf.len()).min(input.len());
            self.buf.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.buf.len() == 8 {
                self.check_trailer()?;
                self.stage = Stage::Done;
            }
        }
        if self.stage == Stage::Done && !input.is_empty() {
            return Err(CodecError::TrailingData);
        }
        Ok(out)
    }

    /// Inflates until `input` is used up or the stream ends; returns the
    /// input left after the end of the deflate stream.
    fn inflate<'a>(
        &mut self,
        mut input: &'a [u8],
        flush: FlushDecompress,
        out: &mut Vec<u8>,
    ) -> Result<&'a [u8], CodecError> {
        loop {
            reserve_spare(out, input.len().saturating_mul(2));
            let spare = out.capacity() - out.len();
            let start = out.len();
            let (before_in, before_out) = (self.inner.total_in(), self.inner.total_out());
            let status = self
                .inner
                .decompress_vec(input, out, flush)
                .map_err(|_| CodecError::Corrupt("invalid deflate data"))?;
            let consumed = (self.inner.total_in() - before_in) as usize;
            let produced = (self.inner.total_out() - before_out) as usize;
            input = &input[consumed..];
            if self.format == Format::Gzip {
                self.crc.update(&out[start..]);
            }
            if status == Status::StreamEnd {
                self.stage = if self.format == Format::Gzip {
                    Stage::Trailer
                } else {
                    Stage::Done
                };
                return Ok(input);
            }
            if input.is_empty() && produced < spare {
                return Ok(input);
            }
            if consumed == 0 && produced == 0 {
                // No progress with input and room left: inflate is stuck.
                return if input.is_empty() {
                    Ok(input)
                } else {
                    Err(CodecError::Corrupt("invalid deflate data"))
                };
            }
        }
    }

    fn check_trailer(&self) -> Result<(), CodecError> {
        let crc = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        let size = u32::from_le_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
        if crc != self.crc.sum() {
            return Err(CodecError::Corrupt("CRC-32 mismatch"));
        }
        if size != self.crc.amount() {
            return Err(CodecError::Corrupt("length mismatch"));
        }
        Ok(())
    }

    /// Ends the input: errors unless the compressed stream is complete.
    pub(crate) fn finish(&mut self) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        if self.stage == Stage::Body {
            self.inflate(&[], FlushDecompress::Finish, &mut out)
                .map_err(|_| CodecError::Truncated)?;
        }
        if self.stage != Stage::Done {
            return Err(CodecError::Truncated);
        }
        Ok(out)
    }
}

/// The length of the gzip header at the start of `buf`, `None` if more bytes
/// are needed.
fn gzip_header_len(buf: &[u8]) -> Result<Option<usize>, CodecError> {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    if !buf.is_empty() && buf[0] != 0x1f || buf.len() > 1 && buf[1] != 0x8b {
        return Err(CodecError::Corrupt("not a gzip stream"));
    }
    if buf.len() > 2 && buf[2] != 8 {
        return Err(CodecError::Corrupt("unknown gzip compression method"));
    }
    if buf.len() < 10 {
        return Ok(None);
    }
    let flags = buf[3];
    if flags & 0xe0 != 0 {
        return Err(CodecError::Corrupt("reserved gzip header flags set"));
    }
    let mut pos = 10;
    if flags & FEXTRA != 0 {
        if buf.len() < pos + 2 {
            return Ok(None);
        }
        pos += 2 + u16::from_le_bytes([buf[pos], buf[pos + 1]]) as usize;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            match buf.get(pos..).and_then(|rest| rest.iter().position(|&b| b == 0)) {
                Some(nul) => pos += nul + 1,
                None => return Ok(None),
            }
        }
    }
    if flags & FHCRC != 0 {
        pos += 2;
    }
    if buf.len() < pos {
        return Ok(None);
    }
    Ok(Some(pos))
}

/// A codec in the resource table.
enum Codec {
    Encode(Encoder),
    Decode(Decoder),
}

impl Codec {
    fn write(&mut self, input: &[u8]) -> Result<Vec<u8>, CodecError> {
        match self {
            Codec::Encode(e) => Ok(e.write(input)),
            Codec::Decode(d) => d.write(input),
        }
    }

    fn finish(&mut self) -> Result<Vec<u8>, CodecError> {
        match self {
            Codec::Encode(e) => Ok(e.finish()),
            Codec::Decode(d) => d.finish(),
        }
    }
}

fn set_bytes(scope: &mut v8::PinScope, rv: &mut v8::ReturnValue<v8::Value>, bytes: Vec<u8>) {
    if bytes.is_empty() {
        rv.set_undefined();
    } else {
        let array = uint8_array(scope, bytes);
        rv.set(array.into());
    }
}

/// `op_compression_new(format, decompress) -> id`.
fn op_compression_new(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let name = to_string(scope, args.get(0));
    let Some(format) = Format::parse(&name) else {
        throw_type_error(scope, &format!("Unsupported compression format: '{name}'"));
        return;
    };
    let codec = if args.get(1).boolean_value(scope) {
        Codec::Decode(Decoder::new(format))
    } else {
        Codec::Encode(Encoder::new(format))
    };
    let id = resource_add(scope, codec);
    rv.set_uint32(id);
}

/// `op_compression_write(id, bytes) -> Uint8Array | undefined` (undefined
/// when the codec released nothing). Throws a TypeError on corrupt input.
fn op_compression_write(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let chunk = args.get(1);
    let result = resource_with::<Codec, _>(scope, id, |codec| with_bytes(chunk, |bytes| codec.write(bytes)));
    match result {
        None => throw_type_error(scope, "The compression stream is closed"),
        Some(None) => throw_type_error(
            scope,
            "The provided value is not of type '(ArrayBuffer or ArrayBufferView)'",
        ),
        Some(Some(Err(e))) => {
            let _ = resource_take::<Codec>(scope, id);
            throw_type_error(scope, &e.to_string());
        }
        Some(Some(Ok(bytes))) => set_bytes(scope, &mut rv, bytes),
    }
}

/// `op_compression_finish(id) -> Uint8Array | undefined`: ends the stream
/// and frees the codec. Throws a TypeError if compressed input was truncated.
fn op_compression_finish(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let Some(mut codec) = resource_take::<Codec>(scope, id) else {
        throw_type_error(scope, "The compression stream is closed");
        return;
    };
    match codec.finish() {
        Ok(bytes) => set_bytes(scope, &mut rv, bytes),
        Err(e) => throw_type_error(scope, &e.to_string()),
    }
}

/// `op_compression_close(id)`: frees an unfinished codec (cancel, abort, GC).
fn op_compression_close(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(id) = crate::ops::u32_arg(scope, args.get(0)) {
        let _ = resource_take::<Codec>(scope, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(format: Format, data: &[u8], chunk: usize) -> Vec<u8> {
        let mut e = Encoder::new(format);
        let mut out = Vec::new();
        for c in data.chunks(chunk.max(1)) {
            out.extend(e.write(c));
        }
        out.extend(e.finish());
        out
    }

    fn decompress(format: Format, data: &[u8], chunk: usize) -> Result<Vec<u8>, CodecError> {
        let mut d = Decoder::new(format);
        let mut out = Vec::new();
        for c in data.chunks(chunk.max(1)) {
            out.extend(d.write(c)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    fn sample() -> Vec<u8> {
        (0..200_000u32).map(|i| (i % 251) as u8 ^ (i / 1000) as u8).collect()
    }

    #[test]
    fn round_trips_every_format_and_chunking() {
        let data = sample();
        for format in [Format::Gzip, Format::Deflate, Format::DeflateRaw] {
            for chunk in [1, 7, 4096, 1 << 20] {
                let packed = compress(format, &data[..if chunk == 1 { 5000 } else { data.len() }], chunk);
                let unpacked =
                    decompress(format, &packed, chunk).unwrap_or_else(|e| panic!("{format:?} chunk {chunk}: {e}"));
                assert_eq!(unpacked, &data[..unpacked.len()]);
            }
        }
    }

    #[test]
    fn empty_input_round_trips() {
        for format in [Format::Gzip, Format::Deflate, Format::DeflateRaw] {
            let packed = compress(format, b"", 1);
            assert!(!packed.is_empty());
            assert_eq!(decompress(format, &packed, 3).unwrap(), b"");
        }
    }

    #[test]
    fn decodes_gzip_from_another_tool() {
        // `printf hello | gzip -n`
        let bytes = [
            0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x86,
            0xa6, 0x10, 0x36, 0x05, 0x00, 0x00, 0x00,
        ];
        assert_eq!(decompress(Format::Gzip, &bytes, 1).unwrap(), b"hello");
        assert_eq!(decompress(Format::Gzip, &bytes, 100).unwrap(), b"hello");
    }

    #[test]
    fn gzip_header_with_optional_fields() {
        // FEXTRA + FNAME + FCOMMENT + FHCRC around an empty deflate block.
        let mut bytes = vec![0x1f, 0x8b, 0x08, 0x1e, 0, 0, 0, 0, 0, 3];
        bytes.extend([2, 0, b'x', b'y']);
        bytes.extend(b"name\0comment\0");
        bytes.extend([0xaa, 0xbb]);
        bytes.extend([0x03, 0x00]);
        bytes.extend([0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decompress(Format::Gzip, &bytes, 1).unwrap(), b"");
        assert_eq!(decompress(Format::Gzip, &bytes, 64).unwrap(), b"");
    }

    #[test]
    fn rejects_corrupt_truncated_and_trailing_input() {
        let packed = compress(Format::Gzip, b"hello hello hello", 100);
        let mut bad_crc = packed.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        assert!(matches!(
            decompress(Format::Gzip, &bad_crc, 100),
            Err(CodecError::Corrupt(_))
        ));
        assert_eq!(
            decompress(Format::Gzip, &packed[..n - 1], 100),
            Err(CodecError::Truncated)
        );
        let mut trailing = packed.clone();
        trailing.push(0);
        assert_eq!(decompress(Format::Gzip, &trailing, 100), Err(CodecError::TrailingData));
        assert!(matches!(
            decompress(Format::Gzip, b"not gzip", 100),
            Err(CodecError::Corrupt(_))
        ));
        assert!(decompress(Format::Deflate, b"\x78\x9c\xff\xff\xff", 100).is_err());
        let raw = compress(Format::DeflateRaw, b"abc", 100);
        let mut raw_trailing = raw.clone();
        raw_trailing.extend(b"zz");
        assert_eq!(
            decompress(Format::DeflateRaw, &raw_trailing, 100),
            Err(CodecError::TrailingData)
        );
        assert_eq!(decompress(Format::Deflate, b"", 1), Err(CodecError::Truncated));
    }

    #[test]
    fn zlib_output_has_a_zlib_header() {
        let packed = compress(Format::Deflate, b"abc", 100);
        assert_eq!(packed[0], 0x78);
        assert_eq!((u16::from(packed[0]) << 8 | u16::from(packed[1])) % 31, 0);
    }
}
