// End-to-end test of the neuron viewer's activations, gradients, unit and logprobs views: drives Debian's headless
// Chromium (through playwright-core) against a running ReconService and checks every number the page shows against
// the service's own answers, fetched here from Node with the same requests; also the URL state (a link reproduces a
// view, Back returns), tokens shown from their bytes, and the key prompt on 401. Screenshots: test-output/viewer-*.png.
//
//   RECON_URL=http://127.0.0.1:5057 npm run e2e        (default URL shown; CHROMIUM_PATH defaults to /usr/bin/chromium)

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  assertClose,
  assertNoError,
  BASE,
  decode,
  getJson,
  newPage,
  open,
  openBrowser,
  post,
  postOk,
  PROMPT,
  readData,
  requestsDuring,
  screenshots,
  settled,
  TIMEOUT,
  visible,
  waitForService,
} from "./helpers.mjs";

let session;
let page;
const reference = {};
const screenshot = screenshots("viewer");

function rowNorms(tensor) {
  const [nTokens, width] = tensor.shape;
  return Array.from({ length: nTokens }, (_, t) => {
    let s = 0;
    for (let i = 0; i < width; i++) s += tensor.values[t * width + i] ** 2;
    return Math.sqrt(s);
  });
}

async function waitForHeatmap(attrs) {
  const selector = "#heatmap-table" + Object.entries(attrs).map(([k, v]) => `[data-${k}="${v}"]`).join("");
  await page.waitForSelector(selector, { timeout: TIMEOUT });
  await settled(page);
  await assertNoError(page);
}

/** The residual a node reads, from the forward pass run here. */
function residual(location, layer) {
  const hit = reference.forward.captured.find((c) => c.location === location && (c.layer ?? null) === layer);
  assert.ok(hit, `forward pass captured ${location} at ${layer}`);
  return hit.tensor;
}

function mlpRequest(layer, preOrPostAct = "post", detachLayerNormScale = true) {
  return { residual: residual("resid.post_attn", layer), layerIndex: layer, nodeType: "mlp_neuron", preOrPostAct, detachLayerNormScale };
}

/** The columns a units heatmap must show: the top-k units by max activation over the prompt, most active first. */
function topUnits(expected, topK) {
  const [nTokens, nUnits] = expected.shape;
  const peak = Array.from({ length: nUnits }, (_, u) => Math.max(...Array.from({ length: nTokens }, (_, t) => expected.values[t * nUnits + u])));
  return Array.from({ length: nUnits }, (_, u) => u).sort((a, b) => peak[b] - peak[a] || a - b).slice(0, topK);
}

/** Checks a tokens × units heatmap against /v1/activations; returns the API's tensor. */
async function checkUnitHeatmap(request, topK) {
  const expected = decode((await postOk("/v1/activations", request)).activations);
  const [nTokens, nUnits] = expected.shape;
  assert.equal(nTokens, reference.tokens.length);
  const headers = (await readData(page, "#heatmap-table th.unit")).map((d) => Number(d.unit));
  assert.deepEqual(headers, topUnits(expected, topK), "columns are the top-k units by max activation, most active first");
  const cells = await readData(page, "#heatmap-table td.cell");
  assert.equal(cells.length, nTokens * topK, "one cell per token and shown unit");
  for (const c of cells) assertClose(Number(c.value), expected.values[Number(c.token) * nUnits + Number(c.unit)], `activation [${c.token}, ${c.unit}]`);
  return expected;
}

/** Checks coloured text (`span.tok` with data-token, data-value) against expected values per token. */
async function checkColouredText(selector, expected, what) {
  const spans = await readData(page, `${selector} span.tok`);
  assert.equal(spans.length, expected.length, `${what}: one span per token`);
  for (const s of spans) assertClose(Number(s.value), expected[Number(s.token)], `${what} at token ${s.token}`);
}

/** Clicks a heatmap cell and checks the per-token gradient norms against /v1/gradients. */
async function checkGradient(cellSelector, request, indices) {
  await page.click(cellSelector);
  await page.waitForSelector(`#gradient-text[data-indices="${indices.join(",")}"]`, { timeout: TIMEOUT });
  await settled(page);
  await assertNoError(page);
  const gradient = decode((await postOk("/v1/gradients", { ...request, tensorIndices: indices })).gradient);
  assert.deepEqual(gradient.shape, [reference.tokens.length, reference.model.config.dModel]);
  const norms = rowNorms(gradient);
  await checkColouredText("#gradient-text", norms, "gradient norm");
  for (const s of await readData(page, "#gradient-table td.num")) assertClose(Number(s.value), norms[Number(s.token)], `gradient bar at token ${s.token}`);
  assert.ok(norms.some((n) => n > 0), "the gradient is not identically zero");
  assert.equal(new URL(page.url()).searchParams.get("cell"), indices.join(","), "the clicked cell is in the URL");
  return norms;
}

before(async () => {
  await waitForService();
  reference.model = await getJson("/v1/model");
  reference.tokenize = await postOk("/v1/tokenize", { text: PROMPT });
  reference.tokens = reference.tokenize.tokens;
  reference.forward = await postOk("/v1/forward", { prompt: PROMPT, capture: ["resid.post_emb", "resid.post_attn", "resid.post_mlp"], topK: 5 });
  session = await openBrowser();
  page = session.page;
});

after(async () => {
  await session?.browser.close();
});

describe("neuron viewer against the live service", { concurrency: 1 }, () => {
  it("opens on an example prompt with its tokens and the MLP heatmap, and puts it in the URL", async () => {
    await open(page, "");
    const info = await page.textContent("#model-info");
    const c = reference.model.config;
    assert.match(info, new RegExp(`${c.nLayers} layers · d_model ${c.dModel} · ${c.nHeads} heads · d_ff ${c.dFf}`));
    const kinds = await page.$$eval("#node-kind option", (o) => o.map((x) => x.value));
    assert.deepEqual(kinds, ["mlp_neuron", "attention_head", ...reference.model.autoencoders.map((a) => `ae:${a.name}`)]);
    const layers = await page.$$eval("#layer option", (o) => o.map((x) => Number(x.value)));
    assert.deepEqual(layers, Array.from({ length: c.nLayers }, (_, i) => i));
    assert.equal(await page.inputValue("#prompt"), PROMPT, "the example prompt");
    assert.equal(new URL(page.url()).searchParams.get("prompt"), PROMPT, "the URL names the prompt");
    const chips = await readData(page, "#tokens .chip");
    assert.deepEqual(chips.map((x) => Number(x.tokenId)), reference.tokens, "chips are the tokenizer's tokens");
    await waitForHeatmap({ kind: "mlp", layer: 0, "pre-or-post": "post" });
    await checkUnitHeatmap(mlpRequest(0), 12);
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
    await settled(page);
    await page.unroute("**/v1/forward");
    assert.equal(await page.isVisible("#busy"), false, "indicator hidden when idle");
    const chips = await readData(page, "#tokens .chip");
    assert.deepEqual(chips.map((x) => Number(x.tokenId)), reference.tokens, "chips are the tokenizer's tokens");
    assert.deepEqual(reference.forward.tokens, reference.tokens, "forward and tokenize agree");
  });

  it("MLP view: tokens × top-k neurons match /v1/activations, a unit shows per-token text", async () => {
    await waitForHeatmap({ kind: "mlp", layer: 0, "pre-or-post": "post" });
    const expected = await checkUnitHeatmap(mlpRequest(0), 12);
    const unit = Number((await readData(page, "#heatmap-table th.unit"))[1].unit);
    await page.click(`#heatmap-table th.unit[data-unit="${unit}"]`);
    await page.waitForSelector(`#unit-text[data-unit="${unit}"]`);
    const nUnits = expected.shape[1];
    await checkColouredText("#unit-text", reference.tokens.map((_, t) => expected.values[t * nUnits + unit]), `unit ${unit}`);
    assert.equal(new URL(page.url()).searchParams.get("unit"), String(unit), "the unit is in the URL");
    await screenshot(page, "mlp-layer0-unit");
  });

  it("gradient view: clicking an MLP cell shows d(activation)/d(residual) norms from /v1/gradients", async () => {
    const units = (await readData(page, "#heatmap-table th.unit")).map((d) => Number(d.unit));
    const t = reference.tokens.length - 2;
    const norms = await checkGradient(`#heatmap-table td.cell[data-token="${t}"][data-unit="${units[0]}"]`, mlpRequest(0), [t, units[0]]);
    // An MLP neuron at token t reads only token t's residual.
    norms.forEach((n, i) => {
      if (i !== t) assert.equal(n, 0, `gradient at token ${i} should be 0`);
    });
    await screenshot(page, "mlp-gradient");
  });

  it("MLP view follows layer, pre/post and detach controls", async () => {
    await page.selectOption("#layer", "2");
    await page.selectOption("#pre-or-post", "pre");
    await page.uncheck("#detach");
    await waitForHeatmap({ kind: "mlp", layer: 2, "pre-or-post": "pre", detach: "false" });
    const request = mlpRequest(2, "pre", false);
    await checkUnitHeatmap(request, 12);
    const units = (await readData(page, "#heatmap-table th.unit")).map((d) => Number(d.unit));
    await checkGradient(`#heatmap-table td.cell[data-token="1"][data-unit="${units[2]}"]`, request, [1, units[2]]);
    const q = new URL(page.url()).searchParams;
    assert.deepEqual([q.get("layer"), q.get("act"), q.get("detach")], ["2", "pre", "0"], "controls are in the URL");
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
    const units = (await readData(page, "#heatmap-table th.unit")).map((d) => Number(d.unit));
    const nUnits = expected.shape[1];
    let best = 0;
    for (let t = 1; t < reference.tokens.length; t++) if (expected.values[t * nUnits + units[0]] > expected.values[best * nUnits + units[0]]) best = t;
    assert.ok(expected.values[best * nUnits + units[0]] > 0, "the top latent is active somewhere");
    await checkGradient(`#heatmap-table td.cell[data-token="${best}"][data-unit="${units[0]}"]`, request, [best, units[0]]);
    await page.click(`#heatmap-table th.unit[data-unit="${units[0]}"]`);
    await page.waitForSelector(`#unit-text[data-unit="${units[0]}"]`);
    await screenshot(page, "latent-gradient");
  });

  it("attention view: query × key heatmap per head matches /v1/activations, masked cells blank", async () => {
    await page.selectOption("#node-kind", "attention_head");
    await page.selectOption("#layer", "1");
    await page.selectOption("#trace-type", "Q");
    await waitForHeatmap({ kind: "attention", layer: 1, "pre-or-post": "post", trace: "Q" });
    const request = { residual: residual("resid.post_mlp", 0), layerIndex: 1, nodeType: "attention_head", preOrPostAct: "post", attentionTraceType: "Q", detachLayerNormScale: true };
    const expected = decode((await postOk("/v1/activations", request)).activations);
    const n = reference.tokens.length;
    const nHeads = reference.model.config.nHeads;
    assert.deepEqual(expected.shape, [n, n, nHeads]);
    assert.equal((await readData(page, "#heads button.head")).length, nHeads, "one button per head");
    for (const h of [0, nHeads - 1]) {
      await page.click(`#heads button.head[data-head="${h}"]`);
      await page.waitForSelector(`#heatmap-table[data-head="${h}"]`);
      await settled(page);
      const cells = await readData(page, "#heatmap-table td.cell");
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
      assert.ok(await page.$$eval("#heatmap-table td.masked", (m) => m.every((x) => x.textContent === "")), "masked cells are blank");
    }
    const h = nHeads - 1;
    await screenshot(page, "attention-head");
    await checkGradient(`#heatmap-table td.cell[data-query="${n - 1}"][data-key="1"][data-head="${h}"]`, request, [n - 1, 1, h]);
    await screenshot(page, "attention-gradient");
  });

  it("attention pre-softmax logits and trace K agree with the API", async () => {
    await page.selectOption("#pre-or-post", "pre");
    await page.selectOption("#trace-type", "K");
    await page.selectOption("#layer", "0");
    await waitForHeatmap({ kind: "attention", layer: 0, "pre-or-post": "pre", trace: "K" });
    const request = { residual: residual("resid.post_emb", null), layerIndex: 0, nodeType: "attention_head", preOrPostAct: "pre", attentionTraceType: "K", detachLayerNormScale: true };
    const expected = decode((await postOk("/v1/activations", request)).activations);
    const n = reference.tokens.length;
    const nHeads = reference.model.config.nHeads;
    const h = Number(await page.getAttribute("#heatmap-table", "data-head"));
    for (const c of await readData(page, "#heatmap-table td.cell:not(.masked)"))
      assertClose(Number(c.value), expected.values[(Number(c.query) * n + Number(c.key)) * nHeads + h], `logit [${c.query}, ${c.key}, ${h}]`);
    assert.equal(expected.values[(0 * n + 1) * nHeads + h], -Infinity, "API masks key > query with -inf");
    await checkGradient(`#heatmap-table td.cell[data-query="${n - 1}"][data-key="${n - 3}"]`, request, [n - 1, n - 3, h]);
    await page.selectOption("#pre-or-post", "post");
    await settled(page);
  });

  it("a link reproduces the view, and Back returns to the one before", async () => {
    // The attention view at layer 3 with a head and a gradient cell chosen.
    const n = reference.tokens.length;
    await page.selectOption("#layer", "3");
    await waitForHeatmap({ kind: "attention", layer: 3 });
    await page.click(`#heads button.head[data-head="1"]`);
    await page.waitForSelector(`#heatmap-table[data-head="1"]`);
    await settled(page);
    await page.click(`#heatmap-table td.cell[data-query="${n - 1}"][data-key="2"]`);
    await page.waitForSelector(`#gradient-text[data-indices="${n - 1},2,1"]`);
    await settled(page);
    const url = page.url();
    const q = new URL(url).searchParams;
    assert.deepEqual(
      Object.fromEntries(["node", "layer", "attn", "head", "cell"].map((k) => [k, q.get(k)])),
      { node: "attention_head", layer: "3", attn: "K", head: "1", cell: `${n - 1},2,1` },
      "the URL names node type, layer, trace, head and cell",
    );
    const shown = async (p) => ({
      table: await readData(p, "#heatmap-table td.cell:not(.masked)"),
      gradient: await readData(p, "#gradient-text span.tok"),
      title: await p.textContent("#activations-title"),
    });
    const here = await shown(page);
    const fresh = await newPage(session);
    await open(fresh, new URL(url).search);
    await fresh.waitForSelector(`#gradient-text[data-indices="${n - 1},2,1"]`);
    await settled(fresh);
    assert.deepEqual(await shown(fresh), here, "the same heatmap and gradient from the link alone");
    assert.equal(fresh.url(), url, "the link is unchanged");
    await fresh.close();
    // Back: the cell goes, then the head.
    await page.goBack();
    await page.waitForFunction(() => !new URL(location.href).searchParams.has("cell"));
    await page.waitForSelector(`#heatmap-table[data-head="1"]`);
    await settled(page);
    assert.equal(await page.$("#gradient-text"), null, "Back removed the gradient");
    await page.goForward();
    await page.waitForSelector(`#gradient-text[data-indices="${n - 1},2,1"]`);
    await settled(page);
  });

  it("unit page: a neuron by layer and number, its activations over the prompt as coloured text", async () => {
    const expected = decode((await postOk("/v1/activations", mlpRequest(1))).activations);
    const nUnits = expected.shape[1];
    const unit = topUnits(expected, 3)[2];
    await open(page, `?prompt=${encodeURIComponent(PROMPT)}&view=unit&node=mlp_neuron&layer=1&unit=${unit}`);
    await page.waitForSelector(`#unit-title[data-unit="${unit}"][data-layer="1"][data-node-type="mlp_neuron"]`);
    await assertNoError(page);
    await checkColouredText("#unit-activations", reference.tokens.map((_, t) => expected.values[t * nUnits + unit]), `neuron ${unit}`);
    assert.match(await page.textContent("#unit-lens"), /no endpoint that returns a unit's write vector/, "says why there is no logit lens");
    await screenshot(page, "unit-neuron");
    // Another number from the form.
    await page.fill("#unit-number", String(unit + 1));
    await page.click("#unit-go");
    await page.waitForSelector(`#unit-title[data-unit="${unit + 1}"]`);
    await settled(page);
    await checkColouredText("#unit-activations", reference.tokens.map((_, t) => expected.values[t * nUnits + unit + 1]), `neuron ${unit + 1}`);
    assert.equal(new URL(page.url()).searchParams.get("unit"), String(unit + 1));
  });

  it("unit page: a head's attention pattern, and one query's attention over the keys", async () => {
    const request = { residual: residual("resid.post_mlp", 1), layerIndex: 2, nodeType: "attention_head", preOrPostAct: "post", attentionTraceType: "QK", detachLayerNormScale: true };
    const expected = decode((await postOk("/v1/activations", request)).activations);
    const n = reference.tokens.length;
    const nHeads = reference.model.config.nHeads;
    const h = nHeads - 1;
    const query = n - 2;
    await open(page, `?prompt=${encodeURIComponent(PROMPT)}&view=unit&node=attention_head&layer=2&unit=${h}&query=${query}`);
    await page.waitForSelector(`#unit-title[data-unit="${h}"][data-layer="2"]`);
    await assertNoError(page);
    for (const c of await readData(page, "#unit-pattern td.cell:not(.masked)"))
      assertClose(Number(c.value), expected.values[(Number(c.query) * n + Number(c.key)) * nHeads + h], `pattern [${c.query}, ${c.key}]`);
    assert.equal(await page.getAttribute("#unit-activations", "data-query"), String(query));
    await checkColouredText("#unit-activations", Array.from({ length: query + 1 }, (_, k) => expected.values[(query * n + k) * nHeads + h]), `query ${query}`);
    await screenshot(page, "unit-head");
    // Clicking another query row shows that row.
    await page.click(`#unit-pattern th.query-pick[data-token="3"]`);
    await page.waitForSelector(`#unit-activations[data-query="3"]`);
    await checkColouredText("#unit-activations", Array.from({ length: 4 }, (_, k) => expected.values[(3 * n + k) * nHeads + h]), "query 3");
  });

  it("unit page opens from a unit of the heatmap, for a latent", async () => {
    const ae = reference.model.autoencoders[0];
    await open(page, `?prompt=${encodeURIComponent(PROMPT)}&node=ae:${ae.name}&layer=1&units=8`);
    await waitForHeatmap({ kind: "latent", layer: 1 });
    const unit = Number((await readData(page, "#heatmap-table th.unit"))[0].unit);
    await page.click(`#heatmap-table th.unit[data-unit="${unit}"]`);
    await page.click(`#unit-detail a.unit-link`);
    await page.waitForSelector(`#unit-title[data-unit="${unit}"][data-node-type="${ae.nodeType}"]`);
    await settled(page);
    const request = { residual: residual("resid.post_attn", 1), layerIndex: 1, nodeType: ae.nodeType, preOrPostAct: "post", detachLayerNormScale: true, autoencoder: ae.name };
    const expected = decode((await postOk("/v1/activations", request)).activations);
    await checkColouredText("#unit-activations", reference.tokens.map((_, t) => expected.values[t * expected.shape[1] + unit]), `latent ${unit}`);
    const q = new URL(page.url()).searchParams;
    assert.deepEqual([q.get("view"), q.get("node"), q.get("layer"), q.get("unit")], ["unit", `ae:${ae.name}`, "1", String(unit)]);
  });

  it("logprobs view: top next tokens from /v1/forward, actual next token from /v1/logprobs", async () => {
    await open(page, `?prompt=${encodeURIComponent(PROMPT)}`);
    const bodies = await requestsDuring(page, "/v1/logprobs", async () => {
      await page.click('#views button[data-view="logprobs"]');
      await page.waitForSelector("#logprobs-table");
      await settled(page);
    });
    assert.ok(bodies.length >= 1, "the page asked /v1/logprobs");
    const following = [...new Set(reference.tokens.slice(1))].sort((a, b) => a - b);
    for (const body of bodies) assert.deepEqual(body.output, { indices: following }, "only the columns of the tokens that follow are asked for");
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
      row.predictions.forEach((p) => assertClose(p.logprob, lp.values[row.position * nVocab + p.token], `forward vs logprobs at ${row.position}`));
      if (row.position < n - 1) {
        assert.equal(row.actual.token, reference.tokens[row.position + 1]);
        assertClose(row.actual.logprob, lp.values[row.position * nVocab + row.actual.token], `actual next-token logprob at ${row.position}`);
      } else assert.equal(row.actual, null);
    }
    assert.equal(new URL(page.url()).searchParams.get("view"), "logprobs");
    await screenshot(page, "logprobs");
  });

  it("tokens are shown faithfully: spaces, newlines, tabs visible, non-ASCII from the token bytes", async () => {
    const text = "café 主义\n\tx  y ✓ naïve";
    const tokenized = await postOk("/v1/tokenize", { text });
    await open(page, `?prompt=${encodeURIComponent(text)}`);
    await page.waitForSelector("#heatmap-table");
    const chips = await page.$$eval("#tokens .chip", (n) => n.map((x) => ({ id: Number(x.dataset.tokenId), text: x.textContent })));
    assert.deepEqual(chips.map((c) => c.id), tokenized.tokens);
    assert.equal(tokenized.tokenBytes?.length, tokenized.tokens.length, "/v1/tokenize sends tokenBytes, one per token");
    // Each token's own bytes: the text when they are whole UTF-8 characters, else the bytes in hex.
    const expected = tokenized.tokenBytes.map((b64) => {
      const bytes = Buffer.from(b64, "base64");
      try {
        return visible(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      } catch {
        return `\u27e8${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ")}\u27e9`;
      }
    });
    // The coloured text joins back to the prompt.
    await page.click("#heatmap-table th.unit");
    await page.waitForSelector("#unit-text");
    const joined = await page.$$eval("#unit-text span.tok:not(.partial)", (n) => n.map((x) => x.textContent).join(""));
    assert.equal(joined.replace(/\u21b5/g, ""), text, "coloured text reads as the prompt");
    assert.deepEqual(chips.map((c) => c.text), expected);
    assert.ok(expected.some((e) => e.includes("\u21b5")) && expected.some((e) => e.includes("\u00b7")), "newline and space shown");
    await screenshot(page, "tokens-non-ascii");
  });

  it("token bytes: a character split over tokens goes to the token that completes it, the others show their bytes", async () => {
    // The page's own module, on bytes made here: "a", " 主" split as [20 e4 b8] [bb], "é", "\n", a zero-width space.
    const b64 = (...bytes) => Buffer.from(bytes).toString("base64");
    const bytes = [b64(0x61), b64(0x20, 0xe4, 0xb8), b64(0xbb), b64(0xc3, 0xa9), b64(0x0a), b64(0xe2, 0x80, 0x8b)];
    const shown = await page.evaluate(async (tokenBytes) => {
      const { tokenTexts } = await import("/js/tokens.js");
      return tokenTexts(tokenBytes);
    }, bytes);
    assert.deepEqual(
      shown.map((t) => [t.text, t.label]),
      [
        ["a", "a"],
        [" ", "\u27e820 e4 b8\u27e9"],
        ["主", "\u27e8bb\u27e9"],
        ["é", "é"],
        ["\n", "\u21b5"],
        ["\u200b", "\u27e8U+200B\u27e9"],
      ],
    );
    assert.equal(shown.map((t) => t.text).join(""), "a 主é\n\u200b", "the texts join back to the prompt");
  });

  it("URL state: every parameter survives a round trip, defaults are left out, bad values fall back", async () => {
    const result = await page.evaluate(async () => {
      const { parseState, formatState } = await import("/js/state.js");
      const links = [
        "?prompt=a%20b&view=attribution&target=5&distractor=7&loss=probs&position=-2&ae=x&ae=y&topk=20&verify=3&trail=mlp_neuron:1:2,30&trail=attention_head:0:2,1,3:QK&ablate=attention_head:0:2,All,3&ablate=mlp_autoencoder_latent:1:2,40:x&sort=write_norm:asc",
        "?prompt=%26%3D%23%2B%E4%B8%BB&view=activations&node=ae:x&layer=2&act=pre&attn=K&detach=0&units=20&head=3&unit=7&cell=1,2,3",
        "?prompt=p&view=unit&node=attention_head&layer=1&unit=2&query=4",
        "?prompt=p",
      ];
      return {
        roundTrips: links.map((l) => formatState(parseState(l))),
        bad: formatState(parseState("?prompt=p&view=nope&layer=-1&act=mid&units=0&trail=bogus&ablate=mlp_neuron:x:1")),
        empty: parseState("").prompt,
      };
    });
    assert.deepEqual(result.roundTrips, [
      "?prompt=a%20b&view=attribution&target=5&distractor=7&loss=probs&position=-2&ae=x&ae=y&topk=20&verify=3&trail=mlp_neuron:1:2,30&trail=attention_head:0:2,1,3:QK&ablate=attention_head:0:2,All,3&ablate=mlp_autoencoder_latent:1:2,40:x&sort=write_norm:asc",
      "?prompt=%26%3D%23%2B%E4%B8%BB&node=ae:x&layer=2&act=pre&attn=K&detach=0&unit=7&units=20&head=3&cell=1,2,3",
      "?prompt=p&view=unit&node=attention_head&layer=1&unit=2&query=4",
      "?prompt=p",
    ]);
    assert.equal(result.bad, "?prompt=p");
    assert.equal(result.empty, PROMPT, "no prompt: the example");
  });

  it("asks for an API key on 401, sends it as X-API-Key, keeps it in sessionStorage", async () => {
    const KEY = "e2e-key";
    // A stand-in for a service with ApiKeys:Keys set: any /v1 request without the key gets the service's 401.
    const sent = [];
    const context = session.context;
    await context.route("**/v1/**", async (route) => {
      const key = route.request().headers()["x-api-key"];
      sent.push(key ?? null);
      if (key !== KEY)
        return route.fulfill({ status: 401, contentType: "application/problem+json", body: JSON.stringify({ title: "Unauthorized", status: 401, detail: "X-API-Key missing or wrong" }) });
      return route.continue();
    });
    session.expectingHttpError = true;
    const keyed = await newPage(session);
    try {
      await keyed.goto(BASE + `/?prompt=${encodeURIComponent(PROMPT)}`);
      await keyed.waitForSelector("#key-dialog[open]");
      assert.equal(await keyed.getAttribute("#key-dialog", "data-rejected"), "false");
      await keyed.fill("#api-key", "wrong");
      await keyed.click("#key-submit");
      await keyed.waitForSelector('#key-dialog[open][data-rejected="true"]');
      await keyed.fill("#api-key", KEY);
      await keyed.click("#key-submit");
      await keyed.waitForSelector('body[data-ready="true"]');
      await keyed.waitForSelector("#heatmap-table");
      await settled(keyed);
      await assertNoError(keyed);
      assert.equal(await keyed.evaluate(() => sessionStorage.getItem("reconservice.apiKey")), KEY);
      assert.ok(!keyed.url().includes(KEY), "the key is not in the URL");
      assert.ok(sent.includes(null) && sent.includes("wrong"), "first without a key, then the wrong one");
      // Later requests carry the key from the start.
      const before = sent.length;
      await keyed.click('#views button[data-view="logprobs"]');
      await keyed.waitForSelector("#logprobs-table");
      await settled(keyed);
      assert.ok(sent.length > before && sent.slice(before).every((k) => k === KEY), "every later request sends the key");
    } finally {
      await context.unroute("**/v1/**");
      session.expectingHttpError = false;
      await keyed.close();
    }
  });

  it("shows the API's ProblemDetails message for a failing request, not a blank page", async () => {
    await open(page, `?prompt=${encodeURIComponent(PROMPT)}`);
    const nCtx = reference.model.config.nCtx;
    const long = Array.from({ length: nCtx + 20 }, () => " the").join("");
    const { status, json } = await post("/v1/forward", { prompt: long, capture: ["resid.post_emb", "resid.post_attn", "resid.post_mlp"], topK: 5 });
    assert.ok(status >= 400 && status < 500, `a prompt of ${nCtx + 20} tokens is a 4xx, got ${status}`);
    await page.fill("#prompt", long);
    session.expectingHttpError = true;
    await page.click("#run");
    await page.waitForSelector("#error:not([hidden])");
    await settled(page);
    assert.equal(await page.getAttribute("#error", "data-status"), String(status));
    assert.equal(await page.textContent("#error .error-message"), json.detail ?? json.title);
    assert.equal(await page.inputValue("#prompt"), long, "the page keeps its state");
    assert.ok(await page.isVisible("#run"), "the page is still there");
    await screenshot(page, "error");
    session.expectingHttpError = false;
    // And it recovers.
    await page.fill("#prompt", PROMPT);
    await page.click("#run");
    await page.waitForSelector("#heatmap-table");
    await settled(page);
    await assertNoError(page);
  });

  it("logged no script errors", () => {
    assert.deepEqual(session.errors, []);
  });
});
