//! Where handlers' answers go, by request id — and a record of which
//! requests sent their head or finished, so the runtime's per-request
//! bookkeeping (limits, contexts) costs in proportion to what changed, not
//! to how many requests are open.

use foldhash::HashMap;
use futures::channel::mpsc;
use tokio::sync::oneshot;

use bytes::Bytes;

use crate::host::HttpResponse;

/// Where a handler's answer to request `id` goes.
pub(crate) enum ResponseSlot {
    /// Waiting for the status and headers.
    Head(oneshot::Sender<HttpResponse>),
    /// Head sent; body chunks go here.
    Streaming(mpsc::Sender<Result<Bytes, String>>),
}

/// The open responses of a runtime.
#[derive(Default)]
pub(crate) struct Responses {
    slots: HashMap<u32, ResponseSlot>,
    /// Requests whose head has gone (or that ended) since the limits last
    /// looked.
    answered: Vec<u32>,
    /// Requests whose response has ended since the contexts last looked.
    ended: Vec<u32>,
}

impl Responses {
    /// Request `id` waits for its head on `tx`.
    pub(crate) fn open(&mut self, id: u32, tx: oneshot::Sender<HttpResponse>) {
        self.slots.insert(id, ResponseSlot::Head(tx));
    }

    /// Removes request `id`'s slot: its response has ended (answered,
    /// failed, or its client left).
    pub(crate) fn take(&mut self, id: u32) -> Option<ResponseSlot> {
        let slot = self.slots.remove(&id)?;
        if matches!(slot, ResponseSlot::Head(_)) {
            self.answered.push(id);
        }
        self.ended.push(id);
        Some(slot)
    }

    /// Takes request `id`'s head sender; the caller then either streams the
    /// body ([`stream`](Self::stream)) or [`end`](Self::end)s it.
    pub(crate) fn take_head(&mut self, id: u32) -> Option<oneshot::Sender<HttpResponse>> {
        match self.slots.remove(&id) {
            Some(ResponseSlot::Head(tx)) => {
                self.answered.push(id);
                Some(tx)
            }
            Some(other) => {
                self.slots.insert(id, other);
                None
            }
            None => None,
        }
    }

    /// Request `id`'s head went with a body that follows through `tx`.
    pub(crate) fn stream(&mut self, id: u32, tx: mpsc::Sender<Result<Bytes, String>>) {
        self.slots.insert(id, ResponseSlot::Streaming(tx));
    }

    /// Request `id`'s whole response went with its head.
    pub(crate) fn end(&mut self, id: u32) {
        self.ended.push(id);
    }

    /// Request `id`'s slot.
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut ResponseSlot> {
        self.slots.get_mut(&id)
    }

    /// Every open slot.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&u32, &mut ResponseSlot)> {
        self.slots.iter_mut()
    }

    /// Removes every slot (the isolate stopped).
    pub(crate) fn drain(&mut self) -> Vec<ResponseSlot> {
        let ids: Vec<u32> = self.slots.keys().copied().collect();
        ids.into_iter().filter_map(|id| self.take(id)).collect()
    }

    /// Open slots.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// No open slots.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The requests whose head went since the last call (the list keeps
    /// its room for the next ones).
    pub(crate) fn drain_answered(&mut self) -> std::vec::Drain<'_, u32> {
        self.answered.drain(..)
    }

    /// The requests whose response ended since the last call.
    pub(crate) fn drain_ended(&mut self) -> std::vec::Drain<'_, u32> {
        self.ended.drain(..)
    }

    /// Whether any request's response ended since the last
    /// [`drain_ended`](Self::drain_ended).
    pub(crate) fn has_ended(&self) -> bool {
        !self.ended.is_empty()
    }
}
