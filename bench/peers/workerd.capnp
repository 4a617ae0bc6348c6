# workerd config for the HTTP benchmark: one Config constant per handler.
#   workerd serve workerd.capnp hello --socket-addr http=127.0.0.1:PORT
# (also "json" and "stream"). Paths of embedded modules are relative to this file.
using Workerd = import "/workerd/workerd.capnp";

const hello :Workerd.Config = (
  services = [ (name = "main", worker = .helloWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8080", http = (), service = "main") ],
);
const helloWorker :Workerd.Worker = (
  modules = [ (name = "hello.js", esModule = embed "handlers/hello.js") ],
  compatibilityDate = "2025-01-01",
);

const json :Workerd.Config = (
  services = [ (name = "main", worker = .jsonWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8080", http = (), service = "main") ],
);
const jsonWorker :Workerd.Worker = (
  modules = [ (name = "json.js", esModule = embed "handlers/json.js") ],
  compatibilityDate = "2025-01-01",
);

const stream :Workerd.Config = (
  services = [ (name = "main", worker = .streamWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8080", http = (), service = "main") ],
);
const streamWorker :Workerd.Worker = (
  modules = [ (name = "stream.js", esModule = embed "handlers/stream.js") ],
  compatibilityDate = "2025-01-01",
);
