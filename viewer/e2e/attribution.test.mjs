// End-to-end test of the node-table view (POST /v1/attribution, api.md "Attribution") in headless Chromium against a
// running ReconService: the request the URL alone makes, the table's order and values, sorting, the trace trail
// (breadcrumbs, Back), ablations (the new loss beside the old), verifyTopN (exact changes beside the estimates), the
// per-token sums, a unit page from a row, and the URL round trip; every number against the service's own answer to the
// same request, sent here from Node. Fails when the service has no /v1/attribution.
// Screenshots: test-output/attribution-*.png.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  assertClose,
  assertNoError,
  decode,
  getJson,
  newPage,
  open,
  openBrowser,
  postOk,
  PROMPT,
  readData,
  requestsDuring,
  screenshots,
  settled,
  threeDecimals,
  waitForService,
} from "./helpers.mjs";

await waitForService();

let session;
let page;
const reference = {};
const screenshot = screenshots("attribution");

/** The node a row names, as the page writes it in `data-node`. */
function nodeKey(row) {
  const base = `${row.nodeType}:${row.layerIndex ?? -1}:${row.tensorIndices.join(",")}`;
  return row.autoencoder ? `${base}:${row.autoencoder}` : base;
}

/** The table's rows in the order the page must show them: by a group, |value| or signed, ties in the API's order ("": the API's order). */
function expectedOrder(table, column, order) {
  if (column === "") return table.slice();
  const score = (r) => (order === "abs" ? -Math.abs(r.values[column]) : order === "desc" ? -r.values[column] : r.values[column]);
  return table
    .map((row, i) => ({ row, i }))
    .sort((a, b) => score(a.row) - score(b.row) || a.i - b.i)
    .map((x) => x.row);
}

/** Reads the node table: per row its node and the value shown per group. */
async function shownTable(p = page) {
  return p.$$eval("#node-table-table tbody tr", (trs) =>
    trs.map((tr) => ({
      node: tr.dataset.node,
      rank: Number(tr.dataset.rank),
      values: Object.fromEntries(Array.from(tr.querySelectorAll("td.value")).map((td) => [td.dataset.group, { value: Number(td.dataset.value), text: td.textContent }])),
      ablated: tr.classList.contains("ablated"),
    })),
  );
}

/** Checks the node table against an answer: order by `sort`, every value, three decimals. */
async function checkTable(answer, column = "act_times_grad", order = "abs") {
  const shown = await shownTable();
  const expected = expectedOrder(answer.nodeTable, column, order);
  assert.equal(shown.length, expected.length, "one row per node of the answer");
  assert.deepEqual(shown.map((r) => r.node), expected.map(nodeKey), `rows ordered by ${column || "the API's order"} (${order})`);
  assert.deepEqual(shown.map((r) => r.rank), expected.map((row) => answer.nodeTable.indexOf(row)), "each row's # is its place in the answer");
  expected.forEach((row, i) => {
    for (const g of Object.keys(row.values)) {
      const cell = shown[i].values[g];
      assert.ok(cell, `row ${i} shows ${g}`);
      assertClose(cell.value, row.values[g], `${nodeKey(row)} ${g}`);
      assert.equal(cell.text, threeDecimals(row.values[g]), `${nodeKey(row)} ${g} with three decimals`);
    }
  });
}

async function checkLoss(answer) {
  if (answer.loss !== undefined && answer.loss !== null) {
    assertClose(Number(await page.getAttribute("#attr-loss-value", "data-value")), answer.loss, "loss");
    assert.equal((await page.textContent("#attr-loss-value")).trim(), `loss ${threeDecimals(answer.loss)}`);
  } else assert.equal(await page.$("#attr-loss-value"), null, "no loss shown for a trace");
  if (answer.unablatedLoss !== undefined && answer.unablatedLoss !== null)
    assertClose(Number(await page.getAttribute("#attr-unablated-loss", "data-value")), answer.unablatedLoss, "unablated loss");
  else assert.equal(await page.$("#attr-unablated-loss"), null, "no unablated loss without ablations");
}

/** Runs `action`, expects exactly one attribution request from the page equal to `expected`; returns the API's answer to it. */
async function expectRequest(action, expected, what) {
  const bodies = await requestsDuring(page, "/v1/attribution", async () => {
    await action();
    await page.waitForSelector("#node-table-table");
    await settled(page);
  });
  await assertNoError(page);
  assert.equal(bodies.length, 1, `${what}: one request`);
  assert.deepEqual(bodies[0], expected, `${what}: the request`);
  return postOk("/v1/attribution", expected);
}

function baseRequest(target, distractor) {
  return { tokens: reference.tokens, loss: { name: "logit_diff", targetTokens: [target], distractorTokens: [distractor], position: -1 }, topK: 10 };
}

before(async () => {
  reference.model = await getJson("/v1/model");
  reference.forward = await postOk("/v1/forward", { prompt: PROMPT, capture: [], topK: 5 });
  reference.tokens = reference.forward.tokens;
  const last = reference.forward.topPredictions[reference.tokens.length - 1];
  reference.top = last.map((p) => p.token);
  session = await openBrowser();
  page = session.page;
});

after(async () => {
  await session?.browser.close();
});

describe("node table against the live service", { concurrency: 1 }, () => {
  it("?prompt&view=attribution&target&distractor alone asks for neurons and heads, logit_diff at the last position, top 10", async () => {
    // A distractor other than the default second prediction, so that the URL, not a default, decides.
    const [target, , distractor] = reference.top;
    const search = `?prompt=${encodeURIComponent(PROMPT)}&view=attribution&target=${target}&distractor=${distractor}`;
    const expected = baseRequest(target, distractor);
    const bodies = await requestsDuring(page, "/v1/attribution", () => open(page, search));
    await page.waitForSelector("#node-table-table");
    await settled(page);
    await assertNoError(page);
    assert.deepEqual(bodies, [expected], "the page's one request");
    const plain = await postOk("/v1/attribution", expected);
    await checkLoss(plain);
    await checkTable(plain);
    assert.equal(page.url(), new URL(search, page.url()).href, "the URL stays as given");
    await screenshot(page, "node-table");
  });

  it("defaults to the top prediction against the second, and writes them into the URL", async () => {
    const [target, distractor] = reference.top;
    const bodies = await requestsDuring(page, "/v1/attribution", () => open(page, `?prompt=${encodeURIComponent(PROMPT)}&view=attribution`));
    await page.waitForSelector("#node-table-table");
    await settled(page);
    assert.deepEqual(bodies, [baseRequest(target, distractor)]);
    const q = new URL(page.url()).searchParams;
    assert.deepEqual([q.get("target"), q.get("distractor")], [String(target), String(distractor)]);
    await checkTable(await postOk("/v1/attribution", baseRequest(target, distractor)));
  });

  it("takes a token typed as text, and names a target outside the top predictions", async () => {
    const [top] = reference.top;
    const last = reference.forward.topPredictions[reference.tokens.length - 1];
    const fourth = last[3];
    await checkTable(
      await expectRequest(async () => {
        await page.fill("#attr-token-text", fourth.tokenString);
        await page.click("#attr-set-distractor");
      }, baseRequest(top, fourth.token), "distractor typed"),
    );
    // A token that is not among the predictions: the service's own text for it.
    const other = reference.tokens[1];
    if (!reference.top.includes(other)) {
      await open(page, `?prompt=${encodeURIComponent(PROMPT)}&view=attribution&target=${other}&distractor=${top}`);
      await page.waitForSelector("#node-table-table");
      const label = await page.$eval("#attr-target option:checked", (o) => o.textContent);
      assert.equal(label, `${JSON.stringify(reference.forward.tokenStrings[1])} (${other})`);
    }
    await open(page, `?prompt=${encodeURIComponent(PROMPT)}&view=attribution`);
    await page.waitForSelector("#node-table-table");
  });

  it("sorts by any group: |value|, then descending, then ascending", async () => {
    const [target, distractor] = reference.top;
    const answer = await postOk("/v1/attribution", baseRequest(target, distractor));
    for (const order of ["abs", "desc", "asc"]) {
      await page.click('#node-table-table th[data-group="write_norm"]');
      await page.waitForSelector(`#node-table-table[data-sort="write_norm:${order}"]`);
      await checkTable(answer, "write_norm", order);
      assert.equal(new URL(page.url()).searchParams.get("sort"), `write_norm:${order}`);
    }
    // "#": the API's own order, as answered.
    await page.click('#node-table-table th[data-group=""]');
    await page.waitForSelector('#node-table-table[data-sort=":abs"]');
    await checkTable(answer, "", "abs");
    await page.click('#node-table-table th[data-group="act_times_grad"]');
    await page.waitForSelector('#node-table-table[data-sort="act_times_grad:abs"]');
  });

  it("per-token sums match the answer's sums", async () => {
    const [target, distractor] = reference.top;
    const answer = await postOk("/v1/attribution", baseRequest(target, distractor));
    assert.ok(answer.sums, "the answer has sums");
    const n = reference.tokens.length;
    const rows = await page.$$eval("#attr-sums p.sum", (ps) =>
      ps.map((p) => ({ group: p.dataset.group, dst: p.dataset.dst, axis: p.dataset.axis, values: Array.from(p.querySelectorAll("span.tok"), (s) => Number(s.dataset.value)) })),
    );
    let checked = 0;
    for (const [group, byDst] of Object.entries(answer.sums))
      for (const [dst, payload] of Object.entries(byDst)) {
        const t = decode(payload);
        const expected =
          t.shape.length === 2 && t.shape[0] === n && t.shape[1] === n
            ? {
                "by key": Array.from({ length: n }, (_, k) => Array.from({ length: n }, (_, q) => t.values[q * n + k]).reduce((a, b) => a + b, 0)),
                "by query": Array.from({ length: n }, (_, q) => Array.from({ length: n }, (_, k) => t.values[q * n + k]).reduce((a, b) => a + b, 0)),
              }
            : { "": Array.from(t.values.slice(0, n)) };
        for (const [axis, values] of Object.entries(expected)) {
          const row = rows.find((r) => r.group === group && r.dst === dst && r.axis === axis);
          assert.ok(row, `sum ${group}/${dst} ${axis} shown`);
          values.forEach((v, i) => assertClose(row.values[i], v, `sum ${group}/${dst} ${axis} at ${i}`));
          checked++;
        }
      }
    assert.ok(checked > 0, "some sums checked");
  });

  it("traces upstream: a node's own table, breadcrumbs, Back and the crumbs return", async () => {
    const [target, distractor] = reference.top;
    const first = (await shownTable()).find((r) => /^(mlp_neuron|attention_head):/.test(r.node));
    assert.ok(first, "a traceable node in the table");
    const [nodeType, layer, indices] = first.node.split(":");
    const traceType = nodeType === "attention_head" ? "QK" : "";
    const trace = { nodeType, layerIndex: Number(layer), tensorIndices: indices.split(",").map(Number), ...(traceType ? { attentionTraceType: traceType } : {}) };
    const traced = await expectRequest(
      () => page.click(`#node-table-table tr[data-node="${first.node}"] button.trace[data-trace-type="${traceType}"]`),
      { tokens: reference.tokens, trace, topK: 10 },
      "trace",
    );
    await checkTable(traced);
    await checkLoss(traced);
    if (traced.tracedValue !== undefined && traced.tracedValue !== null)
      assertClose(Number(await page.getAttribute("#attr-loss-line .traced", "data-value")), traced.tracedValue, "traced value");
    assert.equal((await readData(page, "#breadcrumbs .crumb")).length, 2, "loss › node");
    assert.ok(new URL(page.url()).searchParams.getAll("trail").length === 1, "the trail is in the URL");
    await screenshot(page, "trace");

    // One step further up, then back down with the Back button, a crumb and the browser.
    const second = (await shownTable()).find((r) => /^mlp_neuron:|^attention_head:/.test(r.node) && r.node !== first.node);
    assert.ok(second, "another traceable node");
    const [type2, layer2, indices2] = second.node.split(":");
    const trace2 = { nodeType: type2, layerIndex: Number(layer2), tensorIndices: indices2.split(",").map(Number), ...(type2 === "attention_head" ? { attentionTraceType: "QK" } : {}) };
    await checkTable(
      await expectRequest(
        () => page.click(`#node-table-table tr[data-node="${second.node}"] button.trace[data-trace-type="${type2 === "attention_head" ? "QK" : ""}"]`),
        { tokens: reference.tokens, trace: trace2, topK: 10 },
        "second trace",
      ),
    );
    assert.equal((await readData(page, "#breadcrumbs .crumb")).length, 3, "loss › node › node");
    const deep = page.url();
    const deepTable = await shownTable();
    await page.click("#trace-back");
    await page.waitForFunction(() => document.querySelectorAll("#breadcrumbs .crumb").length === 2);
    await settled(page);
    await checkTable(traced);
    await page.click('#breadcrumbs .crumb[data-depth="0"]');
    await page.waitForFunction(() => document.querySelectorAll("#breadcrumbs .crumb").length === 1);
    await settled(page);
    await checkTable(await postOk("/v1/attribution", baseRequest(target, distractor)));
    await page.goBack();
    await page.waitForFunction(() => document.querySelectorAll("#breadcrumbs .crumb").length === 2);
    await settled(page);
    await checkTable(traced);
    // The deep link alone gives the same deep table.
    const fresh = await newPage(session);
    await open(fresh, new URL(deep).search);
    await fresh.waitForSelector("#node-table-table");
    await settled(fresh);
    assert.equal((await readData(fresh, "#breadcrumbs .crumb")).length, 3);
    assert.deepEqual(await shownTable(fresh), deepTable, "a link to a trace shows the same table");
    await fresh.close();
  });

  it("a head traced through V keeps the loss: the request sends both, the page shows the loss and the traced value", async () => {
    const [target, distractor] = reference.top;
    await open(page, `?prompt=${encodeURIComponent(PROMPT)}&view=attribution&target=${target}&distractor=${distractor}`);
    await page.waitForSelector("#node-table-table");
    const head = (await shownTable()).find((r) => r.node.startsWith("attention_head:"));
    assert.ok(head, "a head in the table");
    const [, layer, indices] = head.node.split(":");
    const trace = { nodeType: "attention_head", layerIndex: Number(layer), tensorIndices: indices.split(",").map(Number), attentionTraceType: "V" };
    const traced = await expectRequest(
      () => page.click(`#node-table-table tr[data-node="${head.node}"] button.trace[data-trace-type="V"]`),
      { ...baseRequest(target, distractor), trace },
      "V trace",
    );
    assert.ok(traced.loss !== undefined && traced.tracedValue !== undefined, "a V trace answers the loss and the traced value");
    await checkLoss(traced);
    assertClose(Number(await page.getAttribute("#attr-loss-line .traced", "data-value")), traced.tracedValue, "traced value");
    await checkTable(traced);
    assert.deepEqual(new URL(page.url()).searchParams.getAll("trail"), [`${head.node}:V`]);
    await page.click("#trace-back");
    await page.waitForFunction(() => document.querySelectorAll("#breadcrumbs .crumb").length === 1);
    await settled(page);
  });

  it("ablates a node: the new loss beside the old, as the API computes them", async () => {
    const [target, distractor] = reference.top;
    await open(page, `?prompt=${encodeURIComponent(PROMPT)}&view=attribution&target=${target}&distractor=${distractor}`);
    await page.waitForSelector("#node-table-table");
    const row = (await shownTable()).find((r) => r.node.startsWith("mlp_neuron:"));
    assert.ok(row, "an MLP neuron in the table");
    const [, layer, indices] = row.node.split(":");
    const ablation = { nodeType: "mlp_neuron", layerIndex: Number(layer), tensorIndices: indices.split(",").map(Number), value: 0 };
    const answer = await expectRequest(
      () => page.click(`#node-table-table tr[data-node="${row.node}"] input.ablate`),
      { ...baseRequest(target, distractor), ablations: [ablation] },
      "ablation",
    );
    await checkLoss(answer);
    assertClose(answer.unablatedLoss, (await postOk("/v1/attribution", baseRequest(target, distractor))).loss, "unablated loss is the plain loss");
    assertClose(Number(await page.getAttribute("#attr-loss-line .loss-change", "data-value")), answer.loss - answer.unablatedLoss, "change");
    await checkTable(answer);
    const still = (await shownTable()).find((r) => r.node === row.node);
    if (still) assert.ok(still.ablated, "the ablated row is marked");
    assert.deepEqual(new URL(page.url()).searchParams.getAll("ablate"), [`mlp_neuron:${layer}:${indices}`]);
    assert.deepEqual((await readData(page, "#ablations button.ablation")).map((b) => b.node), [`mlp_neuron:${layer}:${indices}`], "the ablation is listed");
    await screenshot(page, "ablation");

    // A head too: TDB's ablation of its query token for every key.
    const head = (await shownTable()).find((r) => r.node.startsWith("attention_head:"));
    if (head) {
      const [, hl, hi] = head.node.split(":");
      const [q, , h] = hi.split(",").map(Number);
      const both = await expectRequest(
        () => page.click(`#node-table-table tr[data-node="${head.node}"] input.ablate`),
        { ...baseRequest(target, distractor), ablations: [ablation, { nodeType: "attention_head", layerIndex: Number(hl), tensorIndices: [q, "All", h], value: 0 }] },
        "two ablations",
      );
      await checkLoss(both);
      await checkTable(both);
    }
    // Clearing returns to the unablated table (already asked for: the page may answer it from its cache).
    await page.click("#ablations-clear");
    await page.waitForFunction(() => !new URL(location.href).searchParams.has("ablate"));
    await page.waitForSelector("#node-table-table");
    await settled(page);
    const unablated = await postOk("/v1/attribution", baseRequest(target, distractor));
    await checkLoss(unablated);
    await checkTable(unablated);
  });

  it("verifyTopN: each top node's exact loss change beside its estimate", async () => {
    const [target, distractor] = reference.top;
    const expected = { ...baseRequest(target, distractor), verifyTopN: 3 };
    const answer = await expectRequest(async () => {
      await page.fill("#attr-verify", "3");
      await page.press("#attr-verify", "Tab");
    }, expected, "verify");
    assert.ok(Array.isArray(answer.verification) && answer.verification.length === 3, "the answer verifies 3 nodes");
    const rows = await page.$$eval("#verify-table tbody tr", (trs) =>
      trs.map((tr) => ({
        node: tr.dataset.node,
        ...Object.fromEntries(["act-times-grad", "estimate", "exact", "difference", "ablated-value"].map((c) => [c, Number(tr.querySelector(`.${c}`).dataset.value)])),
      })),
    );
    assert.deepEqual(rows.map((r) => r.node), answer.verification.map(nodeKey), "the verified nodes in the API's order");
    answer.verification.forEach((v, i) => {
      assertClose(rows[i]["act-times-grad"], v.actTimesGrad, `act × grad of ${nodeKey(v)}`);
      assertClose(rows[i].estimate, v.estimate, `estimate of ${nodeKey(v)}`);
      assertClose(rows[i].exact, v.lossChange, `exact change of ${nodeKey(v)}`);
      assertClose(rows[i].difference, v.lossChange - v.estimate, `exact - estimate of ${nodeKey(v)}`);
      assertClose(rows[i]["ablated-value"], v.ablatedValue, `loss with ${nodeKey(v)} at 0`);
    });
    assert.equal(new URL(page.url()).searchParams.get("verify"), "3");
    await screenshot(page, "verify");
  });

  it("opens a row's unit page", async () => {
    const row = (await shownTable()).find((r) => r.node.startsWith("mlp_neuron:"));
    const [, layer, indices] = row.node.split(":");
    const unit = indices.split(",")[1];
    await page.click(`#node-table-table tr[data-node="${row.node}"] a.unit-page`);
    await page.waitForSelector(`#unit-title[data-unit="${unit}"][data-layer="${layer}"][data-node-type="mlp_neuron"]`);
    await settled(page);
    await assertNoError(page);
    const q = new URL(page.url()).searchParams;
    // MLP neurons are the default node type, left out of the URL.
    assert.deepEqual([q.get("view"), q.get("node") ?? "mlp_neuron", q.get("layer") ?? "0", q.get("unit")], ["unit", "mlp_neuron", layer, unit]);
    await page.goBack();
    await page.waitForSelector("#node-table-table");
    await settled(page);
  });

  it("a link with trail, ablations, sort and verify reproduces the view", async () => {
    const url = page.url();
    const here = await shownTable();
    const fresh = await newPage(session);
    const bodies = await requestsDuring(fresh, "/v1/attribution", async () => {
      await open(fresh, new URL(url).search);
      await fresh.waitForSelector("#node-table-table");
      await settled(fresh);
    });
    assert.equal(bodies.length, 1);
    assert.deepEqual(await shownTable(fresh), here);
    assert.equal(fresh.url(), url);
    await fresh.close();
  });

  it("an autoencoder spliced in: its latents and error nodes in the table; a latent traced names its autoencoder", async () => {
    // The default model's mlp_post_act (attribution splices mlp.post_act, resid.delta_mlp and resid.delta_attn families).
    const ae = reference.model.autoencoders.find((a) => ["mlp.post_act", "resid.delta_mlp", "resid.delta_attn"].includes(a.inputType));
    assert.ok(ae, "the service has an autoencoder attribution can splice");
    const [target, distractor] = reference.top;
    const expected = { ...baseRequest(target, distractor), autoencoders: [ae.name] };
    const bodies = await requestsDuring(page, "/v1/attribution", async () => {
      await open(page, `?prompt=${encodeURIComponent(PROMPT)}&view=attribution&target=${target}&distractor=${distractor}&ae=${encodeURIComponent(ae.name)}`);
      await page.waitForSelector("#node-table-table");
      await settled(page);
    });
    await assertNoError(page);
    assert.deepEqual(bodies, [expected], "the page's one request");
    const answer = await postOk("/v1/attribution", expected);
    await checkLoss(answer);
    await checkTable(answer);
    const kinds = new Set(answer.nodeTable.map((r) => r.nodeType));
    assert.ok(kinds.has(ae.nodeType), `the answer has ${ae.nodeType} rows`);
    assert.ok([...kinds].some((k) => k.endsWith("_error")), "the answer has error nodes");
    // Error nodes and embeddings: shown, neither ablatable nor traceable.
    const fixed = await page.$$eval("#node-table-table tr.node-row", (trs) =>
      trs
        .filter((tr) => tr.dataset.nodeType.endsWith("_error") || tr.dataset.nodeType === "layer")
        .map((tr) => ({ type: tr.dataset.nodeType, name: tr.querySelector("td.node").textContent, disabled: tr.querySelector("input.ablate").disabled, traces: tr.querySelectorAll("button.trace").length })),
    );
    assert.ok(fixed.some((r) => r.type.endsWith("_error")), "error rows shown");
    for (const r of fixed) {
      assert.ok(r.disabled && r.traces === 0, `${r.type} row can be neither ablated nor traced`);
      if (r.type.endsWith("_error")) assert.match(r.name, /error/);
    }
    await screenshot(page, "autoencoder");
    const latent = (await shownTable()).find((r) => r.node.startsWith(`${ae.nodeType}:`));
    assert.ok(latent, "a latent row");
    const [, layer, indices] = latent.node.split(":");
    const trace = { nodeType: ae.nodeType, layerIndex: Number(layer), tensorIndices: indices.split(",").map(Number), autoencoder: ae.name };
    const traced = await expectRequest(
      () => page.click(`#node-table-table tr[data-node="${latent.node}"] button.trace`),
      { tokens: reference.tokens, trace, autoencoders: [ae.name], topK: 10 },
      "latent trace",
    );
    await checkLoss(traced);
    await checkTable(traced);
    assertClose(Number(await page.getAttribute("#attr-loss-line .traced", "data-value")), traced.tracedValue, "traced value");
  });

  it("logged no script errors", () => {
    assert.deepEqual(session.errors, []);
  });
});
