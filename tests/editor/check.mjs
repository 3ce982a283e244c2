// Drives the real yaml-language-server (what VS Code, Neovim and others run for YAML) over
// the Language Server Protocol, as an editor would, and checks that the committed schema
// gives pipeline files errors and completion:
//   1. the shipped Seattle pipeline has no diagnostics;
//   2. a misspelled key and a wrong type are flagged at the right line;
//   3. completion inside a topic offers `partitions` and `replication_factor`.
// Prints "N passed, N failed" and exits non-zero on any failure.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, mkdirSync, cpSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const server = join(here, "node_modules", "yaml-language-server", "bin", "yaml-language-server");

// A scratch project laid out like the real one: schemas/ beside pipelines/.
const work = mkdtempSync(join(tmpdir(), "runner-editor-"));
mkdirSync(join(work, "pipelines"));
cpSync(join(root, "schemas"), join(work, "schemas"), { recursive: true });

const child = spawn(process.execPath, [server, "--stdio"], { stdio: ["pipe", "pipe", "inherit"] });
let buffer = Buffer.alloc(0);
let nextId = 1;
const pending = new Map();
const diagnostics = new Map();
const diagnosticWaiters = [];

function send(message) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: "2.0", ...message }), "utf8");
  child.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
  child.stdin.write(body);
}

function request(method, params) {
  const id = nextId++;
  send({ id, method, params });
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

function notify(method, params) {
  send({ method, params });
}

function handle(message) {
  if (message.id !== undefined && message.method) {
    // A request from the server: answer configuration with our settings, others with null.
    if (message.method === "workspace/configuration") {
      const settings = {
        validate: true,
        completion: true,
        hover: true,
        schemaStore: { enable: false },
        format: { enable: false },
      };
      send({ id: message.id, result: message.params.items.map((i) => (i.section === "yaml" ? settings : null)) });
    } else {
      send({ id: message.id, result: null });
    }
    return;
  }
  if (message.id !== undefined) {
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (waiter) message.error ? waiter.reject(new Error(message.error.message)) : waiter.resolve(message.result);
    return;
  }
  if (message.method === "textDocument/publishDiagnostics") {
    diagnostics.set(message.params.uri, message.params.diagnostics);
    for (const w of diagnosticWaiters.splice(0)) w();
  }
}

child.stdout.on("data", (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const headerEnd = buffer.indexOf("\r\n\r\n");
    if (headerEnd < 0) return;
    const length = Number(/Content-Length: (\d+)/i.exec(buffer.subarray(0, headerEnd).toString())[1]);
    if (buffer.length < headerEnd + 4 + length) return;
    const body = buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString("utf8");
    buffer = buffer.subarray(headerEnd + 4 + length);
    handle(JSON.parse(body));
  }
});

// Waits until the server has published diagnostics for `uri` that satisfy `ready`.
async function diagnosticsFor(uri, ready, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = diagnostics.get(uri);
    if (found && ready(found)) return found;
    await new Promise((resolve) => {
      diagnosticWaiters.push(resolve);
      setTimeout(resolve, 250);
    });
  }
  return diagnostics.get(uri) ?? null;
}

let version = 1;
function open(name, text) {
  const path = join(work, "pipelines", name);
  writeFileSync(path, text);
  const uri = pathToFileURL(path).href;
  notify("textDocument/didOpen", { textDocument: { uri, languageId: "yaml", version: version++, text } });
  return uri;
}

const results = [];
function check(name, ok, detail) {
  results.push({ name, ok });
  console.log(`${ok ? "PASS" : "FAIL"} ${name}${ok ? "" : `: ${detail}`}`);
}

try {
  await request("initialize", {
    processId: process.pid,
    rootUri: pathToFileURL(work).href,
    capabilities: {
      textDocument: { completion: { completionItem: { snippetSupport: false } }, publishDiagnostics: {} },
      workspace: { configuration: true },
    },
  });
  notify("initialized", {});

  // 1. The real pipeline is clean.
  const seattle = readFileSync(join(root, "pipelines", "seattle_911_crime.yaml"), "utf8");
  const seattleUri = open("seattle_911_crime.yaml", seattle);
  // Diagnostics are published once validation ran; an empty list is the answer we want.
  const clean = await diagnosticsFor(seattleUri, () => true);
  check("seattle pipeline has no editor diagnostics", clean !== null && clean.length === 0, JSON.stringify(clean));

  // 2. A misspelled key and a wrong type are flagged on their lines.
  const broken = [
    "# yaml-language-server: $schema=../schemas/pipeline.schema.json",
    "pipeline: demo",
    "topics:",
    "  calls:",
    "    partitons: 3",
    "storage:",
    "  bucket: demo-bucket",
    "  layouts:",
    "    history: { prefix: history/, format: parque }",
    "",
  ].join("\n");
  const brokenUri = open("broken.yaml", broken);
  const found = await diagnosticsFor(brokenUri, (d) => d.length >= 2);
  const lines = (found ?? []).map((d) => d.range.start.line + 1);
  const text = JSON.stringify(found);
  check("unknown key flagged on line 5", lines.includes(5) && /partitons/.test(text), text);
  check("bad enum value flagged on line 9", lines.includes(9), text);

  // 3. Completion inside a topic offers its keys.
  const completing = [
    "# yaml-language-server: $schema=../schemas/pipeline.schema.json",
    "pipeline: demo",
    "topics:",
    "  calls:",
    "    ",
    "",
  ].join("\n");
  const completingUri = open("completing.yaml", completing);
  await diagnosticsFor(completingUri, () => true);
  const completion = await request("textDocument/completion", {
    textDocument: { uri: completingUri },
    position: { line: 4, character: 4 },
  });
  const labels = (Array.isArray(completion) ? completion : completion?.items ?? []).map((i) => i.label);
  check(
    "completion offers partitions and replication_factor",
    labels.includes("partitions") && labels.includes("replication_factor"),
    JSON.stringify(labels),
  );
} catch (error) {
  check("language server session", false, error.stack);
} finally {
  child.kill();
  rmSync(work, { recursive: true, force: true });
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
