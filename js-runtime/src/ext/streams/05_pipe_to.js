// ReadableStreamPipeTo (https://streams.spec.whatwg.org/#readable-stream-pipe-to).
//
// The spec leaves the read/write loop's timing free ("the exact manner in
// which it happens is not observable to author code"). This one reads
// synchronously while the destination has no backpressure, so a queued
// source drains into the destination with one reusable read request and no
// promise per step; it waits on `writer.ready` only under backpressure.

const {
  PromisePrototypeThen,
  PromiseResolve,
  Deferred,
  uponPromise,
  resolvedUndefined,
  noop,
  acquireReadableStreamDefaultReader,
  readableStreamCancel,
  readableStreamDefaultReaderRead,
  readableStreamDefaultReaderRelease,
  acquireWritableStreamDefaultWriter,
  writableStreamAbort,
  writableStreamCloseQueuedOrInFlight,
  writableStreamDefaultWriterCloseWithErrorPropagation,
  writableStreamDefaultWriterRelease,
  writableStreamDefaultWriterWrite,
} = internals._streams;
const S = internals._streams;

/** WebIDL "wait for all": fulfills when all fulfill, rejects with the first rejection. */
function waitForAll(promises) {
  if (promises.length === 0) return resolvedUndefined;
  const deferred = new Deferred();
  let remaining = promises.length;
  const onFulfilled = () => {
    if (--remaining === 0) deferred.resolve(undefined);
  };
  const onRejected = (e) => deferred.reject(e);
  for (let i = 0; i < promises.length; i++) uponPromise(promises[i], onFulfilled, onRejected);
  return deferred.promise;
}

function readableStreamPipeTo(source, dest, preventClose, preventAbort, preventCancel, signal) {
  const reader = acquireReadableStreamDefaultReader(source);
  const writer = acquireWritableStreamDefaultWriter(dest);
  source.disturbed = true;
  let shuttingDown = false;
  let currentWrite = resolvedUndefined;
  const result = new Deferred();
  const dom = signal === undefined ? undefined : S.abortOps();
  let abortAlgorithm;

  // The read loop.
  let reading = false;
  let pumping = false;
  let sourceDone = false;

  const readRequest = {
    chunk(chunk) {
      reading = false;
      currentWrite = PromisePrototypeThen(writableStreamDefaultWriterWrite(writer, chunk), undefined, noop);
      if (!pumping) pump();
    },
    close() {
      reading = false;
      sourceDone = true;
    },
    error() {
      reading = false;
      sourceDone = true;
    },
  };

  function pump() {
    pumping = true;
    while (!shuttingDown && !reading && !sourceDone) {
      const ready = writer.ready;
      if (ready.state !== 1) {
        // Pending: wait for it. Rejected: the destination is erroring and
        // the error watchers below shut the pipe down.
        if (ready.state === 0) uponPromise(ready.promise, onReady, noop);
        break;
      }
      reading = true;
      readableStreamDefaultReaderRead(reader, readRequest);
    }
    pumping = false;
  }

  function onReady() {
    if (!pumping && !reading) pump();
  }

  function waitForWritesToFinish() {
    const oldCurrentWrite = currentWrite;
    return PromisePrototypeThen(currentWrite, () =>
      oldCurrentWrite !== currentWrite ? waitForWritesToFinish() : undefined,
    );
  }

  function shutdownWithAnAction(action, originalIsError, originalError) {
    if (shuttingDown) return;
    shuttingDown = true;
    const doTheRest = () => {
      let p;
      try {
        p = PromiseResolve(action());
      } catch (e) {
        finalize(true, e);
        return;
      }
      uponPromise(
        p,
        () => finalize(originalIsError, originalError),
        (newError) => finalize(true, newError),
      );
    };
    if (dest.state === "writable" && !writableStreamCloseQueuedOrInFlight(dest)) {
      uponPromise(waitForWritesToFinish(), doTheRest);
    } else {
      doTheRest();
    }
  }

  function shutdown(isError, error) {
    if (shuttingDown) return;
    shuttingDown = true;
    if (dest.state === "writable" && !writableStreamCloseQueuedOrInFlight(dest)) {
      uponPromise(waitForWritesToFinish(), () => finalize(isError, error));
    } else {
      finalize(isError, error);
    }
  }

  function finalize(isError, error) {
    writableStreamDefaultWriterRelease(writer);
    readableStreamDefaultReaderRelease(reader);
    if (signal !== undefined) dom.removeAbortAlgorithm(signal, abortAlgorithm);
    if (isError) result.reject(error);
    else result.resolve(undefined);
  }

  if (signal !== undefined) {
    abortAlgorithm = () => {
      const error = dom.signalReason(signal);
      shutdownWithAnAction(
        () => {
          const actions = [];
          if (!preventAbort) {
            actions.push(dest.state === "writable" ? writableStreamAbort(dest, error) : resolvedUndefined);
          }
          if (!preventCancel) {
            actions.push(source.state === "readable" ? readableStreamCancel(source, error) : resolvedUndefined);
          }
          return waitForAll(actions);
        },
        true,
        error,
      );
    };
    if (dom.signalAborted(signal)) {
      abortAlgorithm();
      return result.promise;
    }
    dom.addAbortAlgorithm(signal, abortAlgorithm);
  }

  // Errors must be propagated forward.
  const onSourceErrored = (storedError) => {
    if (!preventAbort) shutdownWithAnAction(() => writableStreamAbort(dest, storedError), true, storedError);
    else shutdown(true, storedError);
  };
  // Errors must be propagated backward.
  const onDestErrored = (storedError) => {
    if (!preventCancel) shutdownWithAnAction(() => readableStreamCancel(source, storedError), true, storedError);
    else shutdown(true, storedError);
  };
  // Closing must be propagated forward.
  const onSourceClosed = () => {
    if (!preventClose) shutdownWithAnAction(() => writableStreamDefaultWriterCloseWithErrorPropagation(writer));
    else shutdown();
  };

  if (source.state === "errored") onSourceErrored(source.storedError);
  else uponPromise(reader.closed.promise, undefined, onSourceErrored);

  if (dest.state === "errored") onDestErrored(dest.storedError);
  else uponPromise(writer.closed.promise, undefined, onDestErrored);

  if (source.state === "closed") onSourceClosed();
  else uponPromise(reader.closed.promise, onSourceClosed, noop);

  // Closing must be propagated backward.
  if (writableStreamCloseQueuedOrInFlight(dest) || dest.state === "closed") {
    const destClosed = new TypeError("The destination writable stream closed before all the data could be piped to it");
    if (!preventCancel) shutdownWithAnAction(() => readableStreamCancel(source, destClosed), true, destClosed);
    else shutdown(true, destClosed);
  }

  // Start reading once the writer is ready (as a spec pipe step would).
  uponPromise(writer.ready.promise, onReady, noop);

  return result.promise;
}

S.readableStreamPipeTo = readableStreamPipeTo;
