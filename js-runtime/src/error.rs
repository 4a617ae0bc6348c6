//! Errors of loading and running handler code.

use std::fmt;

/// A JavaScript exception, with where it was thrown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsError {
    /// The message, e.g. `SyntaxError: Unexpected token '}'`.
    pub message: String,
    /// The module or script name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The stack trace, when there is one.
    pub stack: Option<String>,
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }
}

/// Why a bundle could not be turned into a running handler.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A module failed to compile (syntax error), with file:line:col.
    #[error("{0}")]
    Compile(JsError),
    /// An import names a module the bundle does not have.
    #[error("{file}:{line}:{column}: cannot resolve import '{specifier}'")]
    Resolve {
        /// The importing module.
        file: String,
        /// 1-based line of the import.
        line: usize,
        /// 1-based column of the import.
        column: usize,
        /// What was imported.
        specifier: String,
    },
    /// The main module threw while it was evaluated.
    #[error("{0}")]
    Evaluate(JsError),
    /// The bundle's main module is missing from the bundle.
    #[error("main module '{0}' is not in the bundle")]
    MissingMain(String),
    /// The main module neither exports a default object with `fetch` nor
    /// registers a `fetch` event listener.
    #[error(
        "{0}: no fetch handler: export default {{ fetch(request, env, ctx) {{ ... }} }} or addEventListener(\"fetch\", ...)"
    )]
    NoHandler(String),
    /// Evaluating the modules went over a limit (CPU time or heap).
    #[error("the modules' evaluation was stopped: {0}")]
    Limit(crate::Limit),
    /// A JSON module or var is not valid JSON.
    #[error("{file}: invalid JSON: {message}")]
    Json {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}
