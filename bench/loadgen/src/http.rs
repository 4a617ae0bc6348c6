//! Incremental HTTP/1.1 response parser.
//!
//! A connection feeds the bytes it has buffered to [`ResponseParser::parse`], which consumes
//! what it can from the front and reports at most one complete response per call; the caller
//! drops the consumed bytes and calls again while responses keep completing. Reads may split a
//! response anywhere (inside the status line, a header, a chunk-size line, a body) and one read
//! may hold several responses (pipelining): the parser keeps its place between calls. Bodies are
//! consumed as they arrive, not buffered, so a large body does not grow the connection's buffer.
//!
//! Framing follows RFC 9112 §6.3: 1xx, 204 and 304 responses have no body; `Transfer-Encoding`
//! ending in `chunked` is chunked (trailers skipped); any other `Transfer-Encoding` or neither
//! header means the body runs to the end of the connection (completed by [`ResponseParser::eof`]);
//! otherwise `Content-Length` bytes. Interim 1xx responses (other than 101) are skipped.

use std::fmt;

/// Most header lines a response may have.
const MAX_HEADERS: usize = 64;
/// Longest response head, or chunk-size/trailer line, accepted while waiting for its end.
const MAX_LINE: usize = 64 * 1024;

/// A complete response: what the loader needs to know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The server will close the connection after this response (`Connection: close`, an
    /// HTTP/1.0 response without keep-alive, or a body delimited by the end of the connection).
    pub close: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Head(httparse::Error),
    HeadTooLarge,
    ContentLength,
    ChunkSize,
    ChunkEnd,
    LineTooLong,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Head(e) => write!(f, "malformed response head: {e}"),
            ParseError::HeadTooLarge => write!(f, "response head longer than {MAX_LINE} bytes"),
            ParseError::ContentLength => write!(f, "invalid Content-Length"),
            ParseError::ChunkSize => write!(f, "invalid chunk size"),
            ParseError::ChunkEnd => write!(f, "chunk data not followed by CRLF"),
            ParseError::LineTooLong => write!(f, "chunk-size or trailer line longer than {MAX_LINE} bytes"),
        }
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for (the rest of) a status line and headers.
    Head,
    /// This many body bytes still to come.
    Fixed(u64),
    /// Waiting for a chunk-size line.
    ChunkSize,
    /// This many bytes of the current chunk still to come.
    ChunkData(u64),
    /// Waiting for the CRLF after a chunk's data.
    ChunkDataEnd,
    /// After the last chunk: trailer lines until an empty line.
    Trailers,
    /// The body runs until the server closes the connection.
    UntilEof,
}

#[derive(Debug)]
pub struct ResponseParser {
    state: State,
    current: Response,
}

impl Default for ResponseParser {
    fn default() -> Self {
        ResponseParser {
            state: State::Head,
            current: Response {
                status: 0,
                close: false,
            },
        }
    }
}

impl ResponseParser {
    #[cfg(test)]
    /// True between responses (nothing of the next response parsed yet; bytes of an incomplete
    /// head may still sit in the caller's buffer).
    pub fn between_responses(&self) -> bool {
        self.state == State::Head
    }

    /// Consumes bytes from the front of `buf`. Returns how many were consumed and the response
    /// they completed, if any (then further bytes in `buf` are left for the next call).
    pub fn parse(&mut self, buf: &[u8]) -> Result<(usize, Option<Response>), ParseError> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match self.state {
                State::Head => {
                    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let mut head = httparse::Response::new(&mut headers);
                    let n = match head.parse(rest).map_err(ParseError::Head)? {
                        httparse::Status::Partial if rest.len() > MAX_LINE => return Err(ParseError::HeadTooLarge),
                        httparse::Status::Partial => return Ok((pos, None)),
                        httparse::Status::Complete(n) => n,
                    };
                    pos += n;
                    // Both are set on a complete parse.
                    let status = head.code.unwrap_or(0);
                    let http10 = head.version == Some(0);
                    if (100..200).contains(&status) && status != 101 {
                        continue; // interim response (100 Continue, 103 Early Hints)
                    }
                    let framing = Framing::of(status, head.headers)?;
                    let close = framing.close || framing.body == Body::UntilEof || (http10 && !framing.keep_alive);
                    self.current = Response { status, close };
                    self.state = match framing.body {
                        Body::None | Body::Fixed(0) => return Ok((pos, Some(self.finish()))),
                        Body::Fixed(n) => State::Fixed(n),
                        Body::Chunked => State::ChunkSize,
                        Body::UntilEof => State::UntilEof,
                    };
                }
                State::Fixed(left) | State::ChunkData(left) => {
                    let take = left.min(rest.len() as u64);
                    pos += take as usize;
                    let left = left - take;
                    let fixed = matches!(self.state, State::Fixed(_));
                    match (left, fixed) {
                        (0, true) => return Ok((pos, Some(self.finish()))),
                        (0, false) => self.state = State::ChunkDataEnd,
                        (_, true) => {
                            self.state = State::Fixed(left);
                            return Ok((pos, None));
                        }
                        (_, false) => {
                            self.state = State::ChunkData(left);
                            return Ok((pos, None));
                        }
                    }
                }
                State::ChunkSize => {
                    let Some((line, n)) = line(rest)? else {
                        return Ok((pos, None));
                    };
                    pos += n;
                    let size = chunk_size(line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::ChunkData(size)
                    };
                }
                State::ChunkDataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        self.state = State::ChunkSize;
                    }
                    [b'\n', ..] => {
                        pos += 1;
                        self.state = State::ChunkSize;
                    }
                    [] | [b'\r'] => return Ok((pos, None)),
                    _ => return Err(ParseError::ChunkEnd),
                },
                State::Trailers => {
                    let Some((line, n)) = line(rest)? else {
                        return Ok((pos, None));
                    };
                    pos += n;
                    if line.is_empty() {
                        return Ok((pos, Some(self.finish())));
                    }
                }
                State::UntilEof => return Ok((buf.len(), None)),
            }
        }
    }

    /// The server closed the connection: completes a response whose body runs to the end of the
    /// connection. Any other partial response is incomplete (None).
    pub fn eof(&mut self) -> Option<Response> {
        match self.state {
            State::UntilEof => Some(self.finish()),
            _ => None,
        }
    }

    fn finish(&mut self) -> Response {
        self.state = State::Head;
        self.current
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Fixed(u64),
    Chunked,
    UntilEof,
}

struct Framing {
    body: Body,
    close: bool,
    keep_alive: bool,
}

impl Framing {
    fn of(status: u16, headers: &[httparse::Header<'_>]) -> Result<Framing, ParseError> {
        let mut length: Option<u64> = None;
        let mut transfer_encoding: Option<&[u8]> = None;
        let mut close = false;
        let mut keep_alive = false;
        for h in headers {
            if h.name.eq_ignore_ascii_case("content-length") {
                for v in tokens(h.value) {
                    let n = std::str::from_utf8(v)
                        .ok()
                        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or(ParseError::ContentLength)?;
                    if length.is_some_and(|l| l != n) {
                        return Err(ParseError::ContentLength);
                    }
                    length = Some(n);
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                // With several header lines the last coding is in the last one.
                transfer_encoding = tokens(h.value).last().or(transfer_encoding);
            } else if h.name.eq_ignore_ascii_case("connection") {
                for v in tokens(h.value) {
                    close |= v.eq_ignore_ascii_case(b"close");
                    keep_alive |= v.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        let body = if (100..200).contains(&status) || status == 204 || status == 304 {
            Body::None
        } else if let Some(te) = transfer_encoding {
            if te.eq_ignore_ascii_case(b"chunked") {
                Body::Chunked
            } else {
                Body::UntilEof
            }
        } else if let Some(n) = length {
            Body::Fixed(n)
        } else {
            Body::UntilEof
        };
        Ok(Framing {
            body,
            close,
            keep_alive,
        })
    }
}

/// The comma-separated, whitespace-trimmed, non-empty elements of a header value.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// The first line of `buf` (without its CRLF or LF) and the bytes it takes with its line end,
/// or None when the line end has not arrived yet.
fn line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, ParseError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let line = &buf[..i];
            Ok(Some((line.strip_suffix(b"\r").unwrap_or(line), i + 1)))
        }
        None if buf.len() > MAX_LINE => Err(ParseError::LineTooLong),
        None => Ok(None),
    }
}

/// The hexadecimal size of a chunk-size line (`1a; ext=1`).
fn chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    let end = line.iter().position(|&b| b == b';').unwrap_or(line.len());
    let hex = line[..end].trim_ascii();
    if hex.is_empty() || hex.len() > 15 {
        return Err(ParseError::ChunkSize);
    }
    let hex = std::str::from_utf8(hex).map_err(|_| ParseError::ChunkSize)?;
    u64::from_str_radix(hex, 16).map_err(|_| ParseError::ChunkSize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a parser `step` bytes at a time, the way a connection does (a buffer that
    /// keeps the unconsumed bytes); returns the responses, and whether the stream ended between
    /// responses. EOF is delivered at the end.
    fn feed(input: &[u8], step: usize) -> Result<(Vec<Response>, bool), ParseError> {
        let mut p = ResponseParser::default();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for piece in input.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                let (n, r) = p.parse(&buf)?;
                buf.drain(..n);
                match r {
                    Some(r) => out.push(r),
                    None => break,
                }
            }
        }
        if let Some(r) = p.eof() {
            out.push(r);
        }
        Ok((out, p.between_responses() && buf.is_empty()))
    }

    fn ok(status: u16) -> Response {
        Response { status, close: false }
    }

    fn closing(status: u16) -> Response {
        Response { status, close: true }
    }

    /// Every way of splitting the input gives the same responses.
    fn assert_every_split(input: &[u8], want: &[Response]) {
        for step in 1..=input.len() {
            let (got, clean) = feed(input, step).unwrap_or_else(|e| panic!("step {step}: {e}"));
            assert_eq!(got, want, "step {step}");
            assert!(clean, "step {step}: leftover bytes");
        }
    }

    #[test]
    fn content_length_pipelined_and_split_anywhere() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\nHello World!\
                      HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n\
                      HTTP/1.1 201 Created\r\nCONTENT-LENGTH: 3\r\nConnection: Keep-Alive, Close\r\n\r\nabc";
        assert_every_split(input, &[ok(200), ok(404), closing(201)]);
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                      5;name=value\r\nHello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n\
                      HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\nconnection: close\r\n\r\n\
                      0\r\n\r\n";
        assert_every_split(input, &[ok(200), closing(200)]);
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let input =
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_every_split(input, &[ok(200)]);
    }

    #[test]
    fn bodiless_statuses_and_interim_responses() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\n\
                      HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n\
                      HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                      HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n\
                      HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        assert_every_split(input, &[ok(204), ok(304), ok(200)]);
    }

    #[test]
    fn body_until_close() {
        // Neither Content-Length nor chunked: the body ends with the connection.
        let input = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome body, then EOF";
        assert_every_split(input, &[closing(200)]);
        // Without EOF it is not complete.
        let mut p = ResponseParser::default();
        let (n, r) = p.parse(input).unwrap();
        assert_eq!((n, r), (input.len(), None));
        assert!(!p.between_responses());
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        let input = b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx\
                      HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\ny";
        assert_every_split(input, &[closing(200), ok(200)]);
    }

    #[test]
    fn incomplete_response_at_eof() {
        let (got, clean) = feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 7).unwrap();
        assert!(got.is_empty());
        assert!(!clean);
        let (got, clean) = feed(b"HTTP/1.1 200 OK\r\nContent-Le", 3).unwrap();
        assert!(got.is_empty());
        assert!(!clean);
    }

    #[test]
    fn malformed_responses_are_errors() {
        let bad: &[(&[u8], ParseError)] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                ParseError::ContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                ParseError::ContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
                ParseError::ContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                ParseError::ChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
                ParseError::ChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
                ParseError::ChunkEnd,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n",
                ParseError::ChunkSize,
            ),
        ];
        for (input, want) in bad {
            assert_eq!(
                feed(input, input.len()).unwrap_err(),
                *want,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        assert!(matches!(
            feed(b"HTTP/1.1 abc OK\r\n\r\n", 100),
            Err(ParseError::Head(_))
        ));
        assert!(matches!(feed(b"garbage\r\n\r\n", 100), Err(ParseError::Head(_))));
        let mut huge = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        huge.resize(MAX_LINE + 10, b'a');
        assert_eq!(feed(&huge, huge.len()).unwrap_err(), ParseError::HeadTooLarge);
    }

    #[test]
    fn large_body_is_consumed_as_it_arrives() {
        let mut p = ResponseParser::default();
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
        assert_eq!(p.parse(head).unwrap(), (head.len(), None));
        let block = [b'x'; 4096];
        let mut seen = 0;
        loop {
            let (n, r) = p.parse(&block).unwrap();
            seen += n;
            if let Some(r) = r {
                assert_eq!(r, ok(200));
                break;
            }
            assert_eq!(n, block.len());
        }
        assert_eq!(seen, 1_000_000);
    }
}
