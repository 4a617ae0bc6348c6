// DOMException: constructor defaults, the legacy code table, the constants,
// Error-ness and stack (https://webidl.spec.whatwg.org/#idl-DOMException).
import { assert, assertEquals, assertThrows } from "../_assert.js";

const CODES = {
  IndexSizeError: 1,
  HierarchyRequestError: 3,
  WrongDocumentError: 4,
  InvalidCharacterError: 5,
  NoModificationAllowedError: 7,
  NotFoundError: 8,
  NotSupportedError: 9,
  InUseAttributeError: 10,
  InvalidStateError: 11,
  SyntaxError: 12,
  InvalidModificationError: 13,
  NamespaceError: 14,
  InvalidAccessError: 15,
  TypeMismatchError: 17,
  SecurityError: 18,
  NetworkError: 19,
  AbortError: 20,
  URLMismatchError: 21,
  QuotaExceededError: 22,
  TimeoutError: 23,
  InvalidNodeTypeError: 24,
  DataCloneError: 25,
  // Names without a legacy code.
  EncodingError: 0,
  NotReadableError: 0,
  OperationError: 0,
  DataError: 0,
  Error: 0,
  ValidationError: 0,
};

const CONSTANTS = {
  INDEX_SIZE_ERR: 1,
  DOMSTRING_SIZE_ERR: 2,
  HIERARCHY_REQUEST_ERR: 3,
  WRONG_DOCUMENT_ERR: 4,
  INVALID_CHARACTER_ERR: 5,
  NO_DATA_ALLOWED_ERR: 6,
  NO_MODIFICATION_ALLOWED_ERR: 7,
  NOT_FOUND_ERR: 8,
  NOT_SUPPORTED_ERR: 9,
  INUSE_ATTRIBUTE_ERR: 10,
  INVALID_STATE_ERR: 11,
  SYNTAX_ERR: 12,
  INVALID_MODIFICATION_ERR: 13,
  NAMESPACE_ERR: 14,
  INVALID_ACCESS_ERR: 15,
  VALIDATION_ERR: 16,
  TYPE_MISMATCH_ERR: 17,
  SECURITY_ERR: 18,
  NETWORK_ERR: 19,
  ABORT_ERR: 20,
  URL_MISMATCH_ERR: 21,
  QUOTA_EXCEEDED_ERR: 22,
  TIMEOUT_ERR: 23,
  INVALID_NODE_TYPE_ERR: 24,
  DATA_CLONE_ERR: 25,
};

function makeIt() {
  return new DOMException("it broke", "NotFoundError");
}

export default {
  async fetch() {
    // Defaults.
    const plain = new DOMException();
    assertEquals(plain.name, "Error");
    assertEquals(plain.message, "");
    assertEquals(plain.code, 0);
    assertEquals(new DOMException(undefined, undefined).name, "Error");
    assertEquals(new DOMException(null, null).message, "null");
    assertEquals(new DOMException(42).message, "42");
    assertThrows(() => new DOMException(Symbol()), TypeError);
    assertThrows(() => DOMException(), TypeError);
    assertEquals(DOMException.length, 0);
    assertEquals(DOMException.name, "DOMException");

    // Names and codes.
    for (const [name, code] of Object.entries(CODES)) {
      const e = new DOMException("m", name);
      assertEquals(e.name, name);
      assertEquals(e.code, code, name);
    }
    for (const [key, value] of Object.entries(CONSTANTS)) {
      assertEquals(DOMException[key], value, key);
      assertEquals(DOMException.prototype[key], value, key);
      assertEquals(new DOMException()[key], value, key);
      const desc = Object.getOwnPropertyDescriptor(DOMException, key);
      assert(desc.enumerable && !desc.writable && !desc.configurable, `${key} descriptor`);
    }

    // An Error, with accessors on the prototype (not own properties).
    const e = makeIt();
    assert(e instanceof DOMException);
    assert(e instanceof Error);
    assertEquals(Object.getPrototypeOf(DOMException.prototype), Error.prototype);
    assertEquals(Object.getPrototypeOf(DOMException), Function.prototype);
    assertEquals(Object.prototype.toString.call(e), "[object DOMException]");
    assertEquals(String(e), "NotFoundError: it broke");
    assert(!Object.hasOwn(e, "message") && !Object.hasOwn(e, "name"), "own name/message");
    for (const key of ["name", "message", "code"]) {
      const desc = Object.getOwnPropertyDescriptor(DOMException.prototype, key);
      assert(typeof desc.get === "function" && desc.enumerable, `${key} accessor`);
      assertThrows(() => desc.get.call({}), TypeError);
    }
    if (typeof Error.isError === "function") assert(Error.isError(e), "Error.isError");

    // The stack names the exception and the caller, not the constructor.
    assertEquals(typeof e.stack, "string");
    assert(e.stack.startsWith("NotFoundError: it broke\n"), e.stack);
    assert(e.stack.includes("makeIt"), e.stack);

    // Thrown and caught like any error.
    try {
      throw new DOMException("nope", "AbortError");
    } catch (err) {
      assertEquals(err.name, "AbortError");
      assertEquals(err.code, DOMException.ABORT_ERR);
    }

    // Subclassable.
    class MyException extends DOMException {
      constructor() {
        super("custom", "SyntaxError");
      }
    }
    const mine = new MyException();
    assert(mine instanceof MyException && mine instanceof DOMException);
    assertEquals(mine.code, 12);
    assertEquals(mine.message, "custom");
    return new Response("ok");
  },
};
