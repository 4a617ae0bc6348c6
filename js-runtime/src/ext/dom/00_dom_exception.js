// DOMException (WebIDL section 2.8.1, https://webidl.spec.whatwg.org/#idl-DOMException).
//
// Instances are made by the `Error` constructor with DOMException's
// prototype (so they carry V8's error data: `Error.isError`, stack capture);
// `name`, `message` and `code` are accessors on the prototype that read
// state kept in a module-level WeakMap.

internals.dom ??= {};

// Legacy code constants, in the order WebIDL lists them.
const LEGACY_CODES = [
  ["INDEX_SIZE_ERR", 1],
  ["DOMSTRING_SIZE_ERR", 2],
  ["HIERARCHY_REQUEST_ERR", 3],
  ["WRONG_DOCUMENT_ERR", 4],
  ["INVALID_CHARACTER_ERR", 5],
  ["NO_DATA_ALLOWED_ERR", 6],
  ["NO_MODIFICATION_ALLOWED_ERR", 7],
  ["NOT_FOUND_ERR", 8],
  ["NOT_SUPPORTED_ERR", 9],
  ["INUSE_ATTRIBUTE_ERR", 10],
  ["INVALID_STATE_ERR", 11],
  ["SYNTAX_ERR", 12],
  ["INVALID_MODIFICATION_ERR", 13],
  ["NAMESPACE_ERR", 14],
  ["INVALID_ACCESS_ERR", 15],
  ["VALIDATION_ERR", 16],
  ["TYPE_MISMATCH_ERR", 17],
  ["SECURITY_ERR", 18],
  ["NETWORK_ERR", 19],
  ["ABORT_ERR", 20],
  ["URL_MISMATCH_ERR", 21],
  ["QUOTA_EXCEEDED_ERR", 22],
  ["TIMEOUT_ERR", 23],
  ["INVALID_NODE_TYPE_ERR", 24],
  ["DATA_CLONE_ERR", 25],
];

// The error names table: names with a legacy code. Any other name has code 0.
const NAME_TO_CODE = new Map([
  ["IndexSizeError", 1],
  ["HierarchyRequestError", 3],
  ["WrongDocumentError", 4],
  ["InvalidCharacterError", 5],
  ["NoModificationAllowedError", 7],
  ["NotFoundError", 8],
  ["NotSupportedError", 9],
  ["InUseAttributeError", 10],
  ["InvalidStateError", 11],
  ["SyntaxError", 12],
  ["InvalidModificationError", 13],
  ["NamespaceError", 14],
  ["InvalidAccessError", 15],
  ["TypeMismatchError", 17],
  ["SecurityError", 18],
  ["NetworkError", 19],
  ["AbortError", 20],
  ["URLMismatchError", 21],
  ["QuotaExceededError", 22],
  ["TimeoutError", 23],
  ["InvalidNodeTypeError", 24],
  ["DataCloneError", 25],
]);

// instance -> { name, message }
const domExceptionState = new WeakMap();
const ErrorCtor = Error;
const captureStackTrace = Error.captureStackTrace;

function domExceptionData(self) {
  const data = domExceptionState.get(self);
  if (data === undefined) throw new TypeError("Illegal invocation");
  return data;
}

class DOMException {
  constructor(message = "", name = "Error") {
    // WebIDL DOMString conversion (throws for symbols).
    message = `${message}`;
    name = `${name}`;
    // V8 takes the stack header's message from the own `message` property
    // when the stack is captured: give it one for that moment only, since
    // DOMException's message is an accessor on the prototype.
    const self = Reflect.construct(ErrorCtor, [message], new.target);
    domExceptionState.set(self, { name, message });
    if (typeof captureStackTrace === "function") {
      // Hide the constructor frames.
      captureStackTrace(self, new.target);
    }
    delete self.message;
    return self;
  }

  get name() {
    return domExceptionData(this).name;
  }

  get message() {
    return domExceptionData(this).message;
  }

  get code() {
    return NAME_TO_CODE.get(domExceptionData(this).name) ?? 0;
  }
}

Object.setPrototypeOf(DOMException.prototype, Error.prototype);
for (const [key, value] of LEGACY_CODES) {
  const desc = { value, writable: false, enumerable: true, configurable: false };
  Object.defineProperty(DOMException, key, desc);
  Object.defineProperty(DOMException.prototype, key, desc);
}
for (const key of ["name", "message", "code"]) {
  const desc = Object.getOwnPropertyDescriptor(DOMException.prototype, key);
  Object.defineProperty(DOMException.prototype, key, { ...desc, enumerable: true });
}
Object.defineProperty(DOMException.prototype, Symbol.toStringTag, {
  value: "DOMException",
  configurable: true,
});

internals.defineGlobal("DOMException", DOMException);

internals.dom.DOMException = DOMException;
/** True when `value` is a DOMException made by the constructor above. */
internals.dom.isDOMException = (value) => domExceptionState.has(value);
/** A new DOMException; a helper for ops and other families. */
internals.dom.domException = (message, name) => new DOMException(message, name);
