//! Isolate workers: each is an OS thread that owns V8 isolates (one per
//! deployment it serves) and a single-threaded tokio runtime driving their
//! event loops. Other threads talk to it only through its job channel.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use futures::channel::oneshot;
use outpost_js::{Bundle, HttpRequest, HttpResponse, Runtime, RuntimeOptions};
use tokio::sync::mpsc;

use crate::host::{LogSink, NodeHost};

/// Work for an isolate thread.
pub enum Job {
    /// Run a request on a deployment's isolate.
    Request {
        /// Which deployment.
        deployment: Arc<str>,
        /// The request.
        request: HttpRequest,
        /// Where the response goes.
        reply: oneshot::Sender<HttpResponse>,
    },
    /// Start (or replace) a deployment's isolate from a bundle. The old
    /// isolate finishes its in-flight requests before it is dropped.
    Load {
        /// Which deployment.
        deployment: Arc<str>,
        /// Its code.
        bundle: Arc<Bundle>,
        /// `Err` with the load error (file:line:col) when it failed; the
        /// previous version keeps serving then.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Drop a deployment's isolate.
    Unload {
        /// Which deployment.
        deployment: Arc<str>,
    },
}

/// A handle to send jobs to one isolate thread.
#[derive(Clone)]
pub struct WorkerHandle {
    tx: mpsc::UnboundedSender<Job>,
}

impl WorkerHandle {
    /// Queues a job; `false` if the worker has exited.
    pub fn send(&self, job: Job) -> bool {
        self.tx.send(job).is_ok()
    }

    /// Loads `bundle` as `deployment` and waits for the outcome.
    pub async fn load(&self, deployment: Arc<str>, bundle: Arc<Bundle>) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        if !self.send(Job::Load { deployment, bundle, reply }) {
            return Err("isolate worker has exited".into());
        }
        rx.await.unwrap_or_else(|_| Err("isolate worker has exited".into()))
    }
}

/// Settings of a worker thread.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Where handler logs go.
    pub log_sink: LogSink,
    /// Isolate options (heap limit, …).
    pub runtime: RuntimeOptions,
}

/// Starts an isolate thread named `name`.
pub fn spawn(name: String, config: WorkerConfig) -> std::io::Result<(WorkerHandle, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let join = std::thread::Builder::new()
        .name(name)
        .stack_size(8 << 20)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("worker tokio runtime");
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, Worker::new(config).run(rx));
        })?;
    Ok((WorkerHandle { tx }, join))
}

struct Worker {
    config: WorkerConfig,
    live: HashMap<Arc<str>, Runtime>,
    /// Replaced isolates finishing their in-flight requests.
    retiring: Vec<Runtime>,
}

impl Worker {
    fn new(config: WorkerConfig) -> Self {
        Worker { config, live: HashMap::new(), retiring: Vec::new() }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Request { deployment, request, reply } => match self.live.get_mut(&deployment) {
                Some(rt) => rt.dispatch(request, reply),
                None => {
                    let _ = reply.send(HttpResponse::text(503, "deployment is not loaded on this node\n"));
                }
            },
            Job::Load { deployment, bundle, reply } => {
                let host = Rc::new(NodeHost::new(&deployment, self.config.log_sink.clone()));
                match Runtime::new(&bundle, host, self.config.runtime.clone()) {
                    Ok(rt) => {
                        if let Some(old) = self.live.insert(deployment, rt) {
                            self.retiring.push(old);
                        }
                        let _ = reply.send(Ok(()));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            Job::Unload { deployment } => {
                if let Some(old) = self.live.remove(&deployment) {
                    self.retiring.push(old);
                }
            }
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        std::future::poll_fn(|cx| {
            loop {
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(job)) => self.handle(job),
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => break,
                }
            }
            for rt in self.live.values_mut() {
                let _ = rt.poll_event_loop(cx);
            }
            // A replaced isolate goes once its requests have answered in full
            // (or nothing is left for it to do).
            self.retiring.retain_mut(|rt| {
                let idle = rt.poll_event_loop(cx).is_ready();
                !idle && rt.open_requests() > 0
            });
            Poll::Pending
        })
        .await
    }
}
