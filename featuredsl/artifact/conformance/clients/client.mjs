#!/usr/bin/env node
// featuredsl conformance client for Node.js: onnxruntime-node (or onnxruntime-web's WASM
// backend with --backend web), nothing else.
//
// Loads a build's features.onnx, builds one input per declared column (shape [N]) plus the
// null masks from rows.json, runs the graph, and compares the `features` output bit for bit
// with expected.json (NaN equals NaN; -0.0 differs from 0.0). Prints a verdict; exits 1 on
// any difference, 0 when every cell agrees.
//
//   npm install --ignore-scripts      # once, in this directory (package.json)
//   node client.mjs                   # the kit next to this file
//   node client.mjs --backend web --optimization disabled --threads 1
//   node client.mjs --rows rows.json --output out.json    # run only: write every output
//
// Defaults: rows.json and expected.json next to this file; the graph is ../features.onnx
// (the kit inside a build directory) or ./features.onnx (a kit copied out with its graph).
// Encoding (docs/serving.md): floats are JSON numbers, or "NaN", "Infinity", "-Infinity",
// "-0.0"; int64 and timestamps (microseconds since the epoch, UTC) are decimal strings (read
// as BigInt); null is null and becomes NaN (float) or a placeholder plus true in the
// column's mask input.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const FLOAT_TAGS = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity, "-0.0": -0 };
const PLACEHOLDERS = { int: 0n, timestamp: 0n, bool: false, string: "" };
const LEVELS = ["disabled", "basic", "extended", "all"];

class KitError extends Error {}

// -- the encoding

function readFloat(value, where) {
  if (typeof value === "string" && value in FLOAT_TAGS) return FLOAT_TAGS[value];
  if (typeof value === "number") return value;
  throw new KitError(`${where}: ${JSON.stringify(value)} is not a float`);
}

function readCell(value, dtype, where) {
  if (dtype === "float") return readFloat(value, where);
  if (dtype === "int" || dtype === "timestamp") {
    if (typeof value !== "string" || !/^-?(0|[1-9][0-9]*)$/.test(value)) {
      throw new KitError(`${where}: ${JSON.stringify(value)} is not an int64 as a decimal string`);
    }
    return BigInt(value);
  }
  if (dtype === "bool" && typeof value === "boolean") return value;
  if (dtype === "string" && typeof value === "string") {
    // featuredsl's text rule: Unicode NFC only (canonically equal text has one spelling).
    if (value.normalize("NFC") !== value) {
      throw new KitError(`${where}: ${JSON.stringify(value)} is not in Unicode NFC form; send s.normalize("NFC")`);
    }
    return value;
  }
  throw new KitError(`${where}: ${JSON.stringify(value)} is not a ${dtype}`);
}

function writeValue(value) {
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "number") return value;
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "Infinity";
  if (value === -Infinity) return "-Infinity";
  return Object.is(value, -0) ? "-0.0" : value;
}

function bits(value) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  return "0x" + view.getBigUint64(0).toString(16).padStart(16, "0");
}

// Object.is: NaN equals NaN, -0 differs from +0, every other value compared exactly.
const same = (a, b) => Object.is(a, b);
const show = (value) => `${Object.is(value, -0) ? "-0.0" : String(value)} (${bits(value)})`;

// -- feeds, session, comparison

function buildFeeds(ort, document) {
  const rows = document.rows;
  const feeds = {};
  for (const column of document.inputs) {
    const cells = rows.map((row, index) => [row, `rows.json row ${index}, column ${JSON.stringify(column.name)}`]);
    readColumn(ort, feeds, column, column.name, column.name, cells);
  }
  for (const source of document.events ?? []) Object.assign(feeds, eventFeeds(ort, source, rows));
  return feeds;
}

// An event source's inputs (window aggregates): offsets [N + 1] (row i's events are
// offsets[i]..offsets[i + 1]) and one [E] tensor per event column (plus masks), from each
// row's list of events under the source's name.
function eventFeeds(ort, source, rows) {
  const offsets = [0n];
  const events = [];
  rows.forEach((row, index) => {
    const listed = row[source.name];
    if (!Array.isArray(listed)) {
      throw new KitError(`rows.json row ${index}: ${JSON.stringify(source.name)} must be the list of its events`);
    }
    listed.forEach((event, position) => events.push([index, position, event]));
    offsets.push(BigInt(events.length));
  });
  const feeds = { [source.offsets]: new ort.Tensor("int64", BigInt64Array.from(offsets), [offsets.length]) };
  for (const column of source.columns) {
    const cells = events.map(([index, position, event]) => [
      event,
      `rows.json row ${index}, event ${position} of ${JSON.stringify(source.name)}, column ${JSON.stringify(column.name)}`,
    ]);
    readColumn(ort, feeds, column, column.name, column.input, cells);
  }
  return feeds;
}

// Read `field` of every [object, where] of `cells` into feeds[name] (and, for a nullable
// non-float column, its mask column.mask): null becomes NaN or a placeholder.
function readColumn(ort, feeds, column, field, name, cells) {
  const { dtype, nullable } = column;
  const values = [];
  const nulls = [];
  for (const [item, where] of cells) {
    if (!(field in item)) throw new KitError(`${where}: missing`);
    const cell = item[field];
    nulls.push(cell === null);
    if (cell === null && !nullable) throw new KitError(`${where}: null in a column that is not nullable`);
    if (cell === null) values.push(dtype === "float" ? NaN : PLACEHOLDERS[dtype]);
    else values.push(readCell(cell, dtype, where));
  }
  feeds[name] = tensor(ort, dtype, values);
  if (column.mask) feeds[column.mask] = tensor(ort, "bool", nulls);
}

function tensor(ort, dtype, values) {
  const dims = [values.length];
  if (dtype === "float") return new ort.Tensor("float64", Float64Array.from(values), dims);
  if (dtype === "int" || dtype === "timestamp") {
    return new ort.Tensor("int64", BigInt64Array.from(values), dims);
  }
  if (dtype === "bool") return new ort.Tensor("bool", Uint8Array.from(values, Number), dims);
  return new ort.Tensor("string", values, dims);
}

function compare(expected, actual, limit) {
  const names = expected.feature_names;
  const rows = expected.rows;
  const width = names.length;
  if (actual.dims.length !== 2 || actual.dims[0] !== rows.length || actual.dims[1] !== width) {
    throw new KitError(
      `output ${JSON.stringify(expected.output)} has shape [${actual.dims}]; ` +
        `expected.json has ${rows.length} rows of ${width} features`,
    );
  }
  let differing = 0;
  const first = [];
  const perFeature = {};
  rows.forEach((row, r) => {
    row.forEach((cell, f) => {
      const want = readFloat(cell, `expected.json row ${r}`);
      const got = actual.data[r * width + f];
      if (same(want, got)) return;
      differing += 1;
      perFeature[names[f]] = (perFeature[names[f]] ?? 0) + 1;
      if (first.length < limit) {
        first.push({
          row: r,
          feature: names[f],
          expected: writeValue(want),
          actual: writeValue(got),
          expected_bits: bits(want),
          actual_bits: bits(got),
        });
      }
    });
  });
  return {
    rows: rows.length,
    features: width,
    cells: rows.length * width,
    differing,
    differing_by_feature: perFeature,
    first,
  };
}

function parseArgs(argv) {
  const here = dirname(fileURLToPath(import.meta.url));
  const args = { rows: join(here, "rows.json"), backend: "node", optimization: "all", threads: 1, show: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!["rows", "expected", "model", "backend", "optimization", "threads", "output", "report", "show"].includes(key)) {
      throw new KitError(`unknown option ${argv[i]}; options: --rows --expected --model --backend node|web ` +
        "--optimization disabled|basic|extended|all --threads N --output FILE --report FILE --show N");
    }
    if (argv[i + 1] === undefined) throw new KitError(`${argv[i]} needs a value`);
    args[key] = argv[i + 1];
  }
  if (!LEVELS.includes(args.optimization)) throw new KitError(`--optimization must be one of ${LEVELS}`);
  if (!["node", "web"].includes(args.backend)) throw new KitError("--backend must be node or web");
  args.threads = Number(args.threads);
  args.show = Number(args.show);
  return args;
}

async function loadRuntime(backend, threads) {
  if (backend === "web") {
    const ort = await import("onnxruntime-web");
    ort.env.wasm.numThreads = threads;
    ort.env.logLevel = "error";
    return { ort, name: `onnxruntime-web ${ort.env.versions.web} (WASM, Node.js ${process.version})`, version: ort.env.versions.web };
  }
  const ort = await import("onnxruntime-node");
  return { ort, name: `onnxruntime-node ${ort.env.versions.node} (Node.js ${process.version})`, version: ort.env.versions.node };
}

async function verify(args, report) {
  const rowsPath = resolve(args.rows);
  const kit = dirname(rowsPath);
  const expectedPath = args.expected ?? join(kit, "expected.json");
  const model = args.model ?? [join(kit, "..", "features.onnx"), join(kit, "features.onnx")].find(existsSync) ?? join(kit, "features.onnx");
  report.model = model;
  const { ort, name, version } = await loadRuntime(args.backend, args.threads);
  Object.assign(report, { runtime: name, version });
  const session = await ort.InferenceSession.create(readFileSync(model), {
    executionProviders: [args.backend === "web" ? "wasm" : "cpu"],
    graphOptimizationLevel: args.optimization,
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    logSeverityLevel: 3,
  });
  const document = JSON.parse(readFileSync(rowsPath, "utf8"));
  const all = buildFeeds(ort, document);
  const missing = session.inputNames.filter((n) => !(n in all));
  if (missing.length) throw new KitError(`the graph needs input(s) ${missing} that rows.json does not declare`);
  const outputs = await session.run(Object.fromEntries(session.inputNames.map((n) => [n, all[n]])));
  if (args.output) {
    const encoded = {};
    for (const [key, t] of Object.entries(outputs)) {
      const data = Array.from(t.data, (v) => (t.type === "bool" ? Boolean(v) : writeValue(v)));
      encoded[key] = { dtype: t.type, shape: t.dims, data };
    }
    writeFileSync(args.output, JSON.stringify({ outputs: encoded }) + "\n");
  }
  if (args.expected === undefined && !existsSync(expectedPath)) {
    report.ok = true;
    return 0;
  }
  const expected = JSON.parse(readFileSync(expectedPath, "utf8"));
  const result = compare(expected, outputs[expected.output], args.show);
  Object.assign(report, result, { ok: result.differing === 0 });
  const where = `${model} on ${name}, optimization ${args.optimization}, ${args.threads} thread(s)`;
  if (report.ok) {
    console.log(`OK: ${result.cells} cells (${result.rows} rows x ${result.features} features) bit-identical; ${where}`);
    return 0;
  }
  console.log(`DIFFERENT: ${result.differing} of ${result.cells} cells differ; ${where}`);
  for (const [feature, count] of Object.entries(result.differing_by_feature)) console.log(`  ${feature}: ${count} rows`);
  for (const cell of result.first) {
    console.log(
      `  row ${cell.row}, ${cell.feature}: expected ${show(readFloat(cell.expected))}, got ${show(readFloat(cell.actual))}`,
    );
  }
  return 1;
}

async function main() {
  const report = { client: "node" };
  let status;
  try {
    const args = parseArgs(process.argv.slice(2));
    Object.assign(report, { client: args.backend, optimization: args.optimization, threads: args.threads, report: args.report });
    status = await verify(args, report);
  } catch (error) {
    const known = error instanceof KitError || error instanceof SyntaxError || error.code === "ENOENT";
    report.ok = false;
    report.error = known ? error.message : `onnxruntime: ${error.message ?? error}`;
    if (error.code === "ERR_MODULE_NOT_FOUND") {
      report.error = `${error.message}; run \`npm install --ignore-scripts\` in the kit directory first`;
    }
    console.error(`FAILED: ${report.error}`);
    status = 1;
  }
  const target = report.report;
  delete report.report;
  if (target) writeFileSync(target, JSON.stringify(report, null, 1) + "\n");
  process.exitCode = status;
}

await main();
