//! URLPattern support on top of the `urlpattern` crate's `quirks` module:
//! Rust turns constructor input into components with ECMAScript regexp
//! sources; the glue compiles those with the engine's own `RegExp` and
//! matches in JS. Values cross the boundary as JSON.

use urlpattern::quirks::{self, EcmaRegexp, StringOrInit};
use urlpattern::regexp::RegExp;
use urlpattern::{RegexSyntax, UrlPatternOptions};

/// A regexp source kept for the JS engine to compile. Construction accepts
/// any source (JS reports syntax errors when it builds the `RegExp`), so
/// patterns may use ECMAScript-only syntax such as lookbehind.
struct JsRegExp(String);

impl RegExp for JsRegExp {
    fn syntax() -> RegexSyntax {
        RegexSyntax::EcmaScript
    }

    fn parse(pattern: &str, _flags: &str, _force_eval: bool) -> Result<Self, ()> {
        Ok(JsRegExp(pattern.to_string()))
    }

    /// Used only while constructing, to ask whether the protocol component
    /// matches a special scheme; `regex` understands the sources that can
    /// appear there (a source it rejects counts as not matching).
    fn matches<'a>(&self, text: &'a str) -> Option<Vec<Option<&'a str>>> {
        <EcmaRegexp as RegExp>::parse(&self.0, "u", false).ok()?.matches(text)
    }

    fn pattern_string(&self) -> &str {
        &self.0
    }
}

/// Parses constructor input (a JSON string or URLPatternInit object) into
/// the JSON of `quirks::UrlPattern`.
pub(crate) fn parse(input_json: &str, base_url: Option<&str>, ignore_case: bool) -> Result<String, String> {
    let input: StringOrInit = serde_json::from_str(input_json).map_err(|e| format!("Invalid URLPattern input: {e}"))?;
    let init =
        quirks::process_construct_pattern_input(input, base_url).map_err(|e| format!("Invalid URLPattern: {e}"))?;
    let options = UrlPatternOptions {
        regex_syntax: RegexSyntax::EcmaScript,
        ignore_case,
    };
    let pattern = quirks::parse_pattern::<JsRegExp>(init, options).map_err(|e| format!("Invalid URLPattern: {e}"))?;
    serde_json::to_string(&pattern).map_err(|e| e.to_string())
}

/// Canonicalizes match input given as a URLPatternInit (JSON) into the JSON
/// of `quirks::MatchInput`; `Ok(None)` when it cannot match anything.
pub(crate) fn process_match_input(input_json: &str, base_url: Option<&str>) -> Result<Option<String>, String> {
    let input: StringOrInit = serde_json::from_str(input_json).map_err(|e| format!("Invalid URLPattern input: {e}"))?;
    let Some((match_input, _inputs)) = quirks::process_match_input(input, base_url).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let Some(components) = quirks::parse_match_input(match_input) else {
        return Ok(None);
    };
    serde_json::to_string(&components).map(Some).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_a_pathname_pattern() {
        let json = super::parse(r#"{"pathname":"/books/:id"}"#, None, false).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["pathname"]["patternString"], "/books/:id");
        assert_eq!(v["pathname"]["groupNameList"][0], "id");
        assert_eq!(v["hasRegexpGroups"], false);
        assert!(super::parse(r#""https://example.com/:id(\\d+""#, None, false).is_err());
    }

    #[test]
    fn canonicalizes_match_input() {
        let json = super::process_match_input(r#"{"pathname":"/a b","protocol":"HTTPS"}"#, None)
            .unwrap()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["protocol"], "https");
        assert_eq!(v["pathname"], "/a%20b");
    }
}
