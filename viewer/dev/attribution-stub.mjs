// A stand-in for POST /v1/attribution, for working on the viewer before the service has the endpoint. Its numbers
// are MADE UP (deterministic, shaped like the service's answer, README "Attribution": node table with embeddings and
// error nodes, sums, loss, ablations, trace, verification);
// everything else (the page, the other endpoints) is passed through to a real service.
//
//   node dev/attribution-stub.mjs --upstream http://127.0.0.1:5057 --port 5058 [--key secret]
//   open http://127.0.0.1:5058/?view=attribution
//
// --key makes the stub answer 401 to any request without `X-API-Key: <key>` (to try the viewer's key prompt).
// Never use it to judge values: the e2e test checks the page against the real endpoint.

import { createServer } from "node:http";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const upstream = (args.upstream ?? "http://127.0.0.1:5057").replace(/\/$/, "");
const port = Number(args.port ?? 5058);
const key = args.key;

const REQUEST_FIELDS = new Set(["tokens", "prompt", "prompts", "allowSpecial", "prependBos", "loss", "trace", "autoencoders", "ablations", "groups", "topK", "dense", "detachLayerNormScale", "verifyTopN", "output", "outputEncoding"]);
const DEFAULT_GROUPS = ["write_norm", "act_times_grad", "direction_write", "activation"];

/** A deterministic number in [-1, 1) from any values. */
function noise(...parts) {
  let h = 2166136261;
  for (const ch of parts.join("|")) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 16777619);
  }
  h ^= h >>> 13;
  h = Math.imul(h, 0x5bd1e995);
  h ^= h >>> 15;
  return ((h >>> 0) / 2 ** 32) * 2 - 1;
}

const f32 = (x) => Math.fround(x);

/** JSON with object keys sorted, so that equal requests give equal numbers whatever their key order. */
const canonical = (value) =>
  JSON.stringify(value, (_, v) => (v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));

function tensor(values, shape) {
  const buffer = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buffer.writeFloatLE(v, i * 4));
  return { dtype: "float32", shape, data: buffer.toString("base64") };
}

function problem(res, status, field, detail) {
  res.writeHead(status, { "Content-Type": "application/problem+json" });
  res.end(JSON.stringify({ type: "about:blank", title: status === 400 ? "Bad Request" : "Unprocessable Entity", status, detail: `${field}: ${detail}`, field }));
}

let modelInfo;
async function model() {
  modelInfo ??= await (await fetch(`${upstream}/v1/model`, { headers: key ? { "X-API-Key": key } : {} })).json();
  return modelInfo;
}

/** Every node of the model for `tokens` with made-up values in each group; `seed` differs per loss / trace. */
function nodes(config, autoencoders, n, seed) {
  const all = [];
  const add = (nodeType, layerIndex, tensorIndices, scale, autoencoder) => {
    const id = [nodeType, layerIndex, tensorIndices.join(","), autoencoder ?? ""];
    const act = f32(scale * Math.max(-0.17, noise("act", ...id) * 3));
    const grad = noise("grad", seed, ...id) * 0.3 * (noise("sparse", seed, ...id) > 0.9 ? 8 : 1);
    const node = { nodeType, tensorIndices, values: {} };
    if (layerIndex !== null) node.layerIndex = layerIndex;
    if (autoencoder) node.autoencoder = autoencoder;
    node.values.activation = act;
    node.values.act_times_grad = f32(act * grad);
    node.values.write_norm = f32(act * (1 + Math.abs(noise("norm", ...id))));
    node.values.direction_write = f32(act * grad * 0.8 + noise("dw", seed, ...id) * 0.01);
    all.push(node);
  };
  for (let t = 0; t < n; t++) add("layer", null, [t, 0], 1);
  for (let l = 0; l < config.nLayers; l++) {
    for (let t = 0; t < n; t++) for (let i = 0; i < config.dFf; i++) add("mlp_neuron", l, [t, i], 1);
    for (let q = 0; q < n; q++) for (let k = 0; k <= q; k++) for (let h = 0; h < config.nHeads; h++) add("attention_head", l, [q, k, h], 1 / (q + 1));
    for (const ae of autoencoders)
      if (ae.layers.includes(l))
        for (let t = 0; t < n; t++) {
          for (let j = 0; j < ae.nLatents; j += 7) add(ae.nodeType, l, [t, j], 0.5, ae.name);
          // Error nodes: per neuron for an mlp.post_act autoencoder, one per token otherwise.
          const error = ae.nodeType === "mlp_autoencoder_latent" ? "mlp_autoencoder_error" : ae.nodeType === "attention_autoencoder_latent" ? "attention_autoencoder_error" : "autoencoder_error";
          if (ae.inputType === "mlp.post_act") for (let i = 0; i < config.dFf; i += 5) add(error, l, [t, i], 0.1, ae.name);
          else add(error, l, [t, 0], 0.3, ae.name);
        }
  }
  return all;
}

const sameIndices = (ablation, node) =>
  ablation.nodeType === node.nodeType &&
  ablation.layerIndex === node.layerIndex &&
  (ablation.autoencoder ?? node.autoencoder ?? "") === (node.autoencoder ?? "") &&
  ablation.tensorIndices.every((x, i) => x === "All" || x === node.tensorIndices[i]);

async function attribution(body, res) {
  for (const field of Object.keys(body)) if (!REQUEST_FIELDS.has(field)) return problem(res, 400, field, "unknown field");
  const info = await model();
  const config = info.config;
  const tokens = body.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0) return problem(res, 422, "tokens", "expected a list of token ids (the stub takes no prompt)");
  const n = tokens.length;
  if (!body.loss && !body.trace) return problem(res, 422, "loss", "give a loss or a trace");
  const autoencoders = (body.autoencoders ?? []).map((name) => info.autoencoders.find((a) => a.name === name));
  if (autoencoders.some((a) => !a)) return problem(res, 422, "autoencoders", "unknown autoencoder");
  const seed = canonical([tokens, body.loss ?? null, body.trace ?? null]);
  const table = nodes(config, autoencoders, n, seed);
  const groups = body.groups ?? DEFAULT_GROUPS;
  const k = body.topK ?? 10;
  const ablations = body.ablations ?? [];
  // The ablated forward: the loss moves by (1.1 ×) the estimate of each ablated node.
  const shift = table.filter((node) => ablations.some((a) => sameIndices(a, node))).reduce((s, node) => s - 1.1 * node.values.act_times_grad, 0);
  const base = 3 + noise("loss", seed) * 2;
  const answer = { tokens };
  if (body.loss) answer.loss = f32(base + shift);
  if (ablations.length && body.loss) answer.unablatedLoss = f32(base);
  if (body.trace) answer.tracedValue = f32(1 + noise("traced", seed) + shift);
  // Per group, per node kind the top and bottom k; the tops of every kind merged largest first, then the bottoms.
  const chosen = new Set();
  const kindOf = (node) => `${node.nodeType}:${node.autoencoder ?? ""}`;
  const kinds = [...new Set(table.map(kindOf))];
  for (const g of groups) {
    const tops = [];
    const bottoms = [];
    for (const kind of kinds) {
      const ranked = table.filter((node) => kindOf(node) === kind).sort((a, b) => b.values[g] - a.values[g]);
      tops.push(...ranked.slice(0, k));
      bottoms.push(...ranked.slice(-k));
    }
    for (const node of tops.sort((a, b) => b.values[g] - a.values[g])) chosen.add(node);
    for (const node of bottoms.sort((a, b) => a.values[g] - b.values[g])) chosen.add(node);
  }
  answer.nodeTable = [...chosen].map((node) => ({ ...node, values: Object.fromEntries(groups.map((g) => [g, node.values[g]])) }));
  answer.sums = {};
  for (const g of groups) {
    const perToken = new Array(n).fill(0);
    const perPair = new Array(n * n).fill(0);
    for (const node of table) {
      if (node.nodeType === "mlp_neuron") perToken[node.tensorIndices[0]] += node.values[g];
      if (node.nodeType === "attention_head") perPair[node.tensorIndices[0] * n + node.tensorIndices[1]] += node.values[g];
    }
    answer.sums[g] = { [`mlp_${g}`]: tensor(perToken, [n]), [`unflattened_attn_${g}`]: tensor(perPair, [n, n]) };
  }
  if (body.verifyTopN) {
    const top = table.slice().sort((a, b) => Math.abs(b.values.act_times_grad) - Math.abs(a.values.act_times_grad)).slice(0, body.verifyTopN);
    answer.verification = top.map((node) => ({
      nodeType: node.nodeType,
      ...(node.layerIndex !== undefined ? { layerIndex: node.layerIndex } : {}),
      tensorIndices: node.tensorIndices,
      ...(node.autoencoder ? { autoencoder: node.autoencoder } : {}),
      values: Object.fromEntries([...new Set([...groups, "act_times_grad"])].map((g) => [g, node.values[g]])),
      actTimesGrad: node.values.act_times_grad,
      estimate: -node.values.act_times_grad,
      lossChange: -node.values.act_times_grad * (1 + 0.4 * noise("exact", seed, node.tensorIndices.join(","))),
    }));
    for (const v of answer.verification) v.ablatedValue = (answer.loss ?? answer.tracedValue) + v.lossChange;
  }
  answer.allowSpecial = false;
  answer.prependBos = false;
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(JSON.stringify(answer));
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

createServer(async (req, res) => {
  try {
    const body = await readBody(req);
    const open = req.url.startsWith("/health/") || !req.url.startsWith("/v1/");
    if (key && !open && req.headers["x-api-key"] !== key) {
      res.writeHead(401, { "Content-Type": "application/problem+json" });
      return res.end(JSON.stringify({ title: "Unauthorized", status: 401, detail: "X-API-Key missing or wrong" }));
    }
    if (req.method === "POST" && req.url === "/v1/attribution") return await attribution(JSON.parse(body.toString("utf8") || "{}"), res);
    const headers = {};
    for (const h of ["content-type", "accept", "x-api-key"]) if (req.headers[h]) headers[h] = req.headers[h];
    const answer = await fetch(upstream + req.url, { method: req.method, headers, body: ["GET", "HEAD"].includes(req.method) ? undefined : body, redirect: "manual" });
    const out = {};
    for (const h of ["content-type", "location", "cache-control", "retry-after"]) if (answer.headers.get(h)) out[h] = answer.headers.get(h);
    res.writeHead(answer.status, out);
    res.end(Buffer.from(await answer.arrayBuffer()));
  } catch (e) {
    res.writeHead(502, { "Content-Type": "text/plain" });
    res.end(`attribution stub: ${e.message}`);
  }
}).listen(port, "127.0.0.1", () => console.log(`attribution stub on http://127.0.0.1:${port} (made-up /v1/attribution; the rest from ${upstream})`));
