//! `outpost-js`: Outpost's JavaScript runtime.
//!
//! It owns every `v8::` call and every `unsafe` block of the project: platform
//! initialisation, isolates pinned to the thread that made them, the startup
//! snapshot holding the Web API glue, module loading, the Web APIs themselves
//! (`src/ext/<family>/`, JS glue beside its Rust ops), the hooks limits are
//! enforced through, and the binary's global allocator ([`allocator`]).
//!
//! It does not own sockets, config files, QUIC or tokio runtimes: host I/O
//! (clock, timers, logging, outbound fetch) reaches it through the [`Host`]
//! trait that the node implements and tests can fake. A [`Runtime`] is driven
//! from outside: [`Runtime::dispatch`] starts a request, and
//! [`Runtime::poll_event_loop`] runs timers, async host calls and promises.

pub mod allocator;
mod bundle;
pub mod clock;
mod error;
mod ext;
mod host;
mod limits;
mod module_loader;
mod ops;
mod platform;
mod runtime;
mod snapshot;

pub use bundle::{Bundle, ModuleKind, ModuleSource};
pub use error::{JsError, LoadError};
pub use host::{
    Body, BodyStream, FetchError, FetchResult, HeaderList, Host, HttpRequest, HttpResponse, LocalFuture, LogLevel,
    StdHost,
};
pub use limits::Limit;
pub use platform::{init, set_v8_flags};
pub use runtime::{FullResponse, Runtime, RuntimeOptions, standard_method, validate};
pub use snapshot::snapshot_size;
