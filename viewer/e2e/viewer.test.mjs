// End-to-end test of the neuron viewer: drives Debian's headless Chromium (through playwright-core) against
// a running ReconService and checks every number the page shows against the service's own answers,
// fetched here from Node with the same requests. Screenshots go to viewer/test-output/.
//
//   RECON_URL=http://127.0.0.1:5057 npm run e2e        (default URL shown; CHROMIUM_PATH defaults to /usr/bin/chromium)

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const BASE = (process.env.RECON_URL ?? "http://127.0.0.1:5057").replace(/\/$/, "");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const OUT = join(dirname(fileURLToPath(import.meta.url)), "..", "test-output");
const PROMPT = "In the beginning God created the heaven and the earth.";
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS ?? 60_000);

// ------------------------------------------------------------------ the service, from Node

async function post(path, body) {
  const response = await fetch(BASE + path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  return { status: response.status, json };
}

async function postOk(path, body) {
  const { status, json } = await post(path, body);
  assert.equal(status, 200, `${path} answered ${status}: ${JSON.stringify(json).slice(0, 400)}`);
  return json;
}

/** Decodes a float32 tensor payload (base64, little-endian). */
function decode(payload) {
  assert.equal(payload.dtype, "float32");
  const bytes = Buffer.from(payload.data, "base64");
  const count = payload.shape.reduce((a, b) => a * b, 1);
  assert.equal(bytes.length, count * 4, "payload byte length");
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = bytes.readFloatLE(i * 4);
  return { shape: payload.shape, values };
}

function assertClose(actual, expected, what) {
  const tolerance = 1e-6 + 1e-5 * Math.abs(expected);
  assert.ok(Number.isFinite(actual), `${what}: page shows ${actual}`);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: page shows ${actual}, API says ${expected}`);
}

function rowNorms(tensor) {
  const [nTokens, width] = tensor.shape;
  return Array.from({ length: nTokens }, (_, t) => {
    let s = 0;
    for (let i = 0; i < width; i++) s += tensor.values[t * width + i] ** 2;
    return Math.sqrt(s);
  });
}

// ------------------------------------------------------------------ the page

let browser;
let page;
const pageErrors = [];
/** Set while a test provokes an HTTP error on purpose: Chromium logs the failed fetch to the console. */
let expectingHttpError = false;
const reference = {};
let shot = 0;

async function screenshot(name) {
  shot += 1;
  await page.screenshot({ path: join(OUT, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}

/** Waits until no request of the page is in flight. */
async function settled() {
  await page.waitForFunction(() => document.body.dataset.pending === "0", null, { timeout: TIMEOUT });
}

/** Reads `data-*` attributes of every element matching `selector` (as strings). */
function readData(selector) {
  return page.$$eval(selector, (nodes) => nodes.map((n) => ({ ...n.dataset })));
}

async function waitForHeatmap(attrs) {
  const selector = "#heatmap-table" + Object.entries(attrs).map(([k, v]) => `[data-${k}="${v}"]`).join("");
  await page.waitForSelector(selector, { timeout: TIMEOUT });
  await settled();
  assert.equal(await page.isVisible("#error"), false, `unexpected error: ${await page.textContent("#error")}`);
}

/** The residual a node reads, from the forward pass run here. */
function residual(location, layer) {
  const hit = reference.forward.captured.find((c) => c.location === location && (c.layer ?? null) === layer);
  assert.ok(hit, `forward pass captured ${location} at ${layer}`);
  return hit.tensor;
}

/** Checks a tokens × units heatmap against /v1/activations; returns the API's tensor. */
async function checkUnitHeatmap(request, topK) {
  const expected = decode((await postOk("/v1/activations", request)).activations);
  const [nTokens, nUnits] = expected.shape;
  assert.equal(nTokens, reference.tokens.length);
  const peak = Array.from({ length: nUnits }, (_, u) => Math.max(...Array.from({ length: nTokens }, (_, t) => expected.values[t * nUnits + u])));
  const ranked = Array.from({ length: nUnits }, (_, u) => u).sort((a, b) => peak[b] - peak[a] || a - b).slice(0, topK);
  const headers = (await readData("#heatmap-table th.unit")).map((d) => Number(d.unit));
  assert.deepEqual(headers, ranked, "columns are the top-k units by max activation, most active first");
  const cells = await readData("#heatmap-table td.cell");
  assert.equal(cells.length, nTokens * topK, "one cell per token and shown unit");
  for (const c of cells) {
    const t = Number(c.token);
    const u = Number(c.unit);
    assertClose(Number(c.value), expected.values[t * nUnits + u], `activation [${t}, ${u}]`);
  }
  return expected;
}

/** Clicks a heatmap cell and checks the per-token gradient norms against /v1/gradients. */
async function checkGradient(cellSelector, request, indices) {
  await page.click(cellSelector);
  await page.waitForSelector(`#gradient-text[data-indices="${indices.join(",")}"]`, { timeout: TIMEOUT });
  await settled();
  assert.equal(await page.isVisible("#error"), false, `unexpected error: ${await page.textContent("#error")}`);
  const gradient = decode((await postOk("/v1/gradients", { ...request, tensorIndices: indices })).gradient);
  assert.deepEqual(gradient.shape, [reference.tokens.length, reference.model.config.dModel]);
  const norms = rowNorms(gradient);
  const shown = await readData("#gradient-text span.tok");
  assert.equal(shown.length, norms.length, "one gradient norm per token");
  for (const s of shown) assertClose(Number(s.norm), norms[Number(s.token)], `gradient norm at token ${s.token}`);
  const table = await readData("#gradient-table td.num");
  for (const s of table) assertClose(Number(s.norm), norms[Number(s.token)], `gradient bar at token ${s.token}`);
  assert.ok(norms.some((n) => n > 0), "the gradient is not identically zero");
  return norms;
}

before(async () => {
  mkdirSync(OUT, { recursive: true });
  for (const f of readdirSync(OUT)) if (f.endsWith(".png")) rmSync(join(OUT, f));
  // The service must be up and ready (weights loaded).
  const deadline = Date.now() + 120_000;
  let last = "no answer";
  for (;;) {
    try {
      const r = await fetch(BASE + "/health/ready");
      if (r.ok) break;
      last = `HTTP ${r.status}`;
    } catch (e) {
      // Not listening yet, or a port that fetch and Chromium refuse outright (5060, 6000, ...: the Fetch standard's bad ports).
      last = String(e.cause?.message ?? e.message);
      if (last === "bad port") throw new Error(`${BASE}: browsers and fetch refuse this port ("bad port"); run the service on another one`);
    }
    if (Date.now() > deadline) throw new Error(`service at ${BASE} not ready after 120 s (last: ${last})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  reference.model = await (await fetch(BASE + "/v1/model")).json();
  reference.tokenize = await postOk("/v1/tokenize", { text: PROMPT });
  reference.tokens = reference.tokenize.tokens;
  reference.forward = await postOk("/v1/forward", {
    prompt: PROMPT,
    capture: ["resid.post_emb", "resid.post_attn", "resid.post_mlp"],
    topK: 5,
  });

  // launch() gives Chromium a fresh temporary profile (the --user-data-dir of a manual run) and removes it on close.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !(expectingHttpError && m.text().startsWith("Failed to load resource"))) pageErrors.push(`console: ${m.text()}`);
  });
});

after(async () => {
  await browser?.close();
});

describe("neuron viewer against the live service", { concurrency: 1 }, () => {
  it("loads the page and the model description", async () => {
    await page.goto(BASE + "/", { waitUntil: "load" });
    await page.waitForSelector('body[data-ready="true"]');
    const info = await page.textContent("#model-info");
    const c = reference.model.config;
    assert.match(info, new RegExp(`${c.nLayers} layers · d_model ${c.dModel} · ${c.nHeads} heads · d_ff ${c.dFf}`));
    const kinds = await page.$$eval("#node-kind option", (o) => o.map((x) => x.value));
    assert.deepEqual(kinds, ["mlp_neuron", "attention_head", ...reference.model.autoencoders.map((a) => `ae:${a.name}`)]);
    const layers = await page.$$eval("#layer option", (o) => o.map((x) => Number(x.value)));
    assert.deepEqual(layers, Array.from({ length: c.nLayers }, (_, i) => i));
  });

  it("shows a progress indicator while a request runs, then token chips", async () => {
    await page.fill("#prompt", PROMPT);
    // Hold the forward request back briefly (it still goes to the real service) so the indicator can be seen.
    await page.route("**/v1/forward", async (route) => {
      await new Promise((r) => setTimeout(r, 400));
      await route.continue();
    });
    await page.click("#run");
    await page.waitForSelector("#busy:not([hidden])", { timeout: 5000 });
    assert.equal(await page.isDisabled("#run"), true, "Run is disabled while busy");
    await page.waitForSelector(`#heatmap-table[data-kind="mlp"]`);
    await settled();
    await page.unroute("**/v1/forward");
    assert.equal(await page.isVisible("#busy"), false, "indicator hidden when idle");
    const chips = await readData("#tokens .chip");
    assert.deepEqual(chips.map((c) => Number(c.tokenId)), reference.tokens, "chips are the tokenizer's tokens");
    assert.deepEqual(reference.forward.tokens, reference.tokens, "forward and tokenize agree");
    const chipText = await page.$$eval("#tokens .chip", (n) => n.map((x) => x.textContent));
    const shown = (s) => s.replace(/\n/g, "\u21b5").replace(/\t/g, "\u2192").replace(/ /g, "\u00b7");
    assert.deepEqual(chipText, reference.tokenize.tokenStrings.map(shown));
  });

  it("MLP view: tokens × top-k neurons match /v1/activations, a unit shows per-token text", async () => {
    await waitForHeatmap({ kind: "mlp", layer: 0, "pre-or-post": "post" });
    const request = {
      residual: residual("resid.post_attn", 0),
      layerIndex: 0,
      nodeType: "mlp_neuron",
      preOrPostAct: "post",
      detachLayerNormScale: true,
    };
    const expected = await checkUnitHeatmap(request, 12);
    const unit = Number((await readData("#heatmap-table th.unit"))[1].unit);
    await page.click(`#heatmap-table th.unit[data-unit="${unit}"]`);
    await page.waitForSelector(`#unit-text[data-unit="${unit}"]`);
    const perToken = await readData("#unit-text span.tok");
    const nUnits = expected.shape[1];
    assert.equal(perToken.length, reference.tokens.length);
    for (const s of perToken) assertClose(Number(s.value), expected.values[Number(s.token) * nUnits + unit], `unit ${unit} at token ${s.token}`);
    await screenshot("mlp-layer0-unit");
  });

  it("gradient view: clicking an MLP cell shows d(activation)/d(residual) norms from /v1/gradients", async () => {
    const units = (await readData("#heatmap-table th.unit")).map((d) => Number(d.unit));
    const t = reference.tokens.length - 2;
    const request = {
      residual: residual("resid.post_attn", 0),
      layerIndex: 0,
      nodeType: "mlp_neuron",
      preOrPostAct: "post",
      detachLayerNormScale: true,
    };
    const norms = await checkGradient(`#heatmap-table td.cell[data-token="${t}"][data-unit="${units[0]}"]`, request, [t, units[0]]);
    // An MLP neuron at token t reads only token t's residual.
    norms.forEach((n, i) => {
      if (i !== t) assert.equal(n, 0, `gradient at token ${i} should be 0`);
    });
    await screenshot("mlp-gradient");
  });

  it("MLP view follows layer, pre/post and detach controls", async () => {
    await page.selectOption("#layer", "2");
    await page.selectOption("#pre-or-post", "pre");
    await page.uncheck("#detach");
    await waitForHeatmap({ kind: "mlp", layer: 2, "pre-or-post": "pre", detach: "false" });
    const request = {
      residual: residual("resid.post_attn", 2),
      layerIndex: 2,
      nodeType: "mlp_neuron",
      preOrPostAct: "pre",
      detachLayerNormScale: false,
    };
    await checkUnitHeatmap(request, 12);
    const units = (await readData("#heatmap-table th.unit")).map((d) => Number(d.unit));
    await checkGradient(`#heatmap-table td.cell[data-token="1"][data-unit="${units[2]}"]`, request, [1, units[2]]);
    await page.check("#detach");
    await page.selectOption("#pre-or-post", "post");
    await waitForHeatmap({ kind: "mlp", layer: 2, "pre-or-post": "post", detach: "true" });
  });

  it("latent view: autoencoder latents match /v1/activations, with a gradient", async () => {
    const ae = reference.model.autoencoders[0];
    assert.ok(ae, "the default model has an autoencoder");
    await page.selectOption("#node-kind", `ae:${ae.name}`);
    await page.selectOption("#layer", "1");
    await page.fill("#top-k", "16");
    await page.press("#top-k", "Tab");
    await waitForHeatmap({ kind: "latent", layer: 1, "pre-or-post": "post" });
    await page.waitForFunction(() => document.querySelectorAll("#heatmap-table th.unit").length === 16);
    const request = {
      residual: residual(ae.inputType === "resid.delta_attn" ? "resid.post_mlp" : "resid.post_attn", ae.inputType === "resid.delta_attn" ? 0 : 1),
      layerIndex: 1,
      nodeType: ae.nodeType,
      preOrPostAct: "post",
      detachLayerNormScale: true,
      autoencoder: ae.name,
    };
    const expected = await checkUnitHeatmap(request, 16);
    // Gradient of the most active latent at the token where it peaks.
    const units = (await readData("#heatmap-table th.unit")).map((d) => Number(d.unit));
    const nUnits = expected.shape[1];
    let best = 0;
    for (let t = 1; t < reference.tokens.length; t++) if (expected.values[t * nUnits + units[0]] > expected.values[best * nUnits + units[0]]) best = t;
    assert.ok(expected.values[best * nUnits + units[0]] > 0, "the top latent is active somewhere");
    await checkGradient(`#heatmap-table td.cell[data-token="${best}"][data-unit="${units[0]}"]`, request, [best, units[0]]);
    await page.click(`#heatmap-table th.unit[data-unit="${units[0]}"]`);
    await page.waitForSelector(`#unit-text[data-unit="${units[0]}"]`);
    await screenshot("latent-gradient");
  });

  it("attention view: query × key heatmap per head matches /v1/activations, masked cells blank", async () => {
    await page.selectOption("#node-kind", "attention_head");
    await page.selectOption("#layer", "1");
    await page.selectOption("#trace-type", "Q");
    await waitForHeatmap({ kind: "attention", layer: 1, "pre-or-post": "post", trace: "Q" });
    const request = {
      residual: residual("resid.post_mlp", 0),
      layerIndex: 1,
      nodeType: "attention_head",
      preOrPostAct: "post",
      attentionTraceType: "Q",
      detachLayerNormScale: true,
    };
    const expected = decode((await postOk("/v1/activations", request)).activations);
    const n = reference.tokens.length;
    const nHeads = reference.model.config.nHeads;
    assert.deepEqual(expected.shape, [n, n, nHeads]);
    const heads = await readData("#heads button.head");
    assert.equal(heads.length, nHeads, "one button per head");
    for (const h of [0, nHeads - 1]) {
      await page.click(`#heads button.head[data-head="${h}"]`);
      await page.waitForSelector(`#heatmap-table[data-head="${h}"]`);
      const cells = await readData("#heatmap-table td.cell");
      assert.equal(cells.length, n * n);
      let masked = 0;
      for (const c of cells) {
        const q = Number(c.query);
        const k = Number(c.key);
        if (k > q) {
          assert.equal(c.masked, "", `cell [${q}, ${k}] is masked`);
          assert.equal(c.value, undefined, `masked cell [${q}, ${k}] carries no value`);
          masked++;
        } else assertClose(Number(c.value), expected.values[(q * n + k) * nHeads + h], `attention [${q}, ${k}, ${h}]`);
      }
      assert.equal(masked, (n * (n - 1)) / 2, "every key after its query is masked");
      const blank = await page.$$eval("#heatmap-table td.masked", (m) => m.every((x) => x.textContent === ""));
      assert.ok(blank, "masked cells are blank");
    }
    const h = nHeads - 1;
    await screenshot("attention-head");
    await checkGradient(`#heatmap-table td.cell[data-query="${n - 1}"][data-key="1"][data-head="${h}"]`, request, [n - 1, 1, h]);
    await screenshot("attention-gradient");
  });

  it("attention pre-softmax logits and trace K agree with the API", async () => {
    await page.selectOption("#pre-or-post", "pre");
    await page.selectOption("#trace-type", "K");
    await page.selectOption("#layer", "0");
    await waitForHeatmap({ kind: "attention", layer: 0, "pre-or-post": "pre", trace: "K" });
    const request = {
      residual: residual("resid.post_emb", null),
      layerIndex: 0,
      nodeType: "attention_head",
      preOrPostAct: "pre",
      attentionTraceType: "K",
      detachLayerNormScale: true,
    };
    const expected = decode((await postOk("/v1/activations", request)).activations);
    const n = reference.tokens.length;
    const nHeads = reference.model.config.nHeads;
    const h = Number(await page.getAttribute("#heatmap-table", "data-head"));
    for (const c of await readData("#heatmap-table td.cell:not(.masked)"))
      assertClose(Number(c.value), expected.values[(Number(c.query) * n + Number(c.key)) * nHeads + h], `logit [${c.query}, ${c.key}, ${h}]`);
    assert.equal(expected.values[(0 * n + 1) * nHeads + h], -Infinity, "API masks key > query with -inf");
    await checkGradient(`#heatmap-table td.cell[data-query="${n - 1}"][data-key="${n - 3}"]`, request, [n - 1, n - 3, h]);
    await page.selectOption("#pre-or-post", "post");
  });

  it("logprobs view: top next tokens from /v1/forward, actual next token from /v1/logprobs", async () => {
    const asked = [];
    const onRequest = (r) => { if (r.url().endsWith("/v1/logprobs")) asked.push(JSON.parse(r.postData())); };
    page.on("request", onRequest);
    await page.click('#views button[data-view="logprobs"]');
    await page.waitForSelector("#logprobs-table");
    await settled();
    page.off("request", onRequest);
    // The page asks only for the tokens that follow (output.indices), not the whole vocabulary.
    assert.ok(asked.length > 0, "the page called /v1/logprobs");
    const following = [...new Set(reference.tokens.slice(1))].sort((a, b) => a - b);
    for (const body of asked) assert.deepEqual([...body.output.indices].sort((a, b) => a - b), following);
    assert.equal(await page.isVisible("#activations-panel"), false);
    const nLayers = reference.model.config.nLayers;
    const lp = decode((await postOk("/v1/logprobs", { residual: residual("resid.post_mlp", nLayers - 1), detachLayerNormScale: true })).logprobs);
    const nVocab = lp.shape[1];
    assert.equal(nVocab, reference.model.config.nVocab);
    const n = reference.tokens.length;
    const rows = await page.$$eval("#logprobs-table tbody tr", (trs) =>
      trs.map((tr) => ({
        position: Number(tr.dataset.position),
        predictions: Array.from(tr.querySelectorAll("td.prediction")).map((td) => ({ token: Number(td.dataset.tokenId), logprob: Number(td.dataset.logprob) })),
        actual: tr.querySelector("td.actual") ? { token: Number(tr.querySelector("td.actual").dataset.tokenId), logprob: Number(tr.querySelector("td.actual").dataset.logprob) } : null,
      })),
    );
    assert.equal(rows.length, n);
    for (const row of rows) {
      const expected = reference.forward.topPredictions[row.position];
      assert.deepEqual(row.predictions.map((p) => p.token), expected.map((p) => p.token), `top tokens at ${row.position}`);
      row.predictions.forEach((p, i) => assertClose(p.logprob, expected[i].logprob, `top-${i + 1} logprob at ${row.position}`));
      // The forward pass's top predictions agree with /v1/logprobs on the final residual.
      row.predictions.forEach((p) => assertClose(p.logprob, lp.values[row.position * nVocab + p.token], `forward vs logprobs at ${row.position}`));
      if (row.position < n - 1) {
        assert.equal(row.actual.token, reference.tokens[row.position + 1]);
        assertClose(row.actual.logprob, lp.values[row.position * nVocab + row.actual.token], `actual next-token logprob at ${row.position}`);
      } else assert.equal(row.actual, null);
    }
    await screenshot("logprobs");
    await page.click('#views button[data-view="activations"]');
    await page.waitForSelector("#heatmap-table");
    await settled();
  });

  it("shows the API's ProblemDetails message for a failing request, not a blank page", async () => {
    const nCtx = reference.model.config.nCtx;
    const long = Array.from({ length: nCtx + 20 }, () => " the").join("");
    // The same requests the page makes, from Node: the first that fails gives the expected message.
    let problem;
    for (const [path, body] of [
      ["/v1/tokenize", { text: long }],
      ["/v1/forward", { prompt: long, capture: ["resid.post_emb", "resid.post_attn", "resid.post_mlp"], topK: 5 }],
    ]) {
      const { status, json } = await post(path, body);
      if (status >= 400) {
        problem = { status, json };
        break;
      }
    }
    assert.ok(problem, `a prompt of ${nCtx + 20} tokens is rejected`);
    assert.ok(problem.status >= 400 && problem.status < 500, `a 4xx, got ${problem.status}`);
    await page.fill("#prompt", long);
    expectingHttpError = true;
    await page.click("#run");
    await page.waitForSelector("#error:not([hidden])");
    await settled();
    assert.equal(await page.getAttribute("#error", "data-status"), String(problem.status));
    const message = await page.textContent("#error .error-message");
    assert.equal(message, problem.json.detail ?? problem.json.title);
    assert.equal(await page.inputValue("#prompt"), long, "the page keeps its state");
    assert.ok(await page.isVisible("#run"), "the page is still there");
    await screenshot("error");
    expectingHttpError = false;
    // And it recovers.
    await page.fill("#prompt", PROMPT);
    await page.click("#run");
    await page.waitForSelector("#heatmap-table");
    await settled();
    assert.equal(await page.isVisible("#error"), false);
  });

  it("logged no script errors", () => {
    assert.deepEqual(pageErrors, []);
  });
});
