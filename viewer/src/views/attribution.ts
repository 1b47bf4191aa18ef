// The node table (POST /v1/attribution, api.md "Attribution"): for the prompt and a target next token against a
// distractor, the nodes that matter by act × grad, with all four groups as sortable columns; the loss; per-token sums
// as coloured text; a trace trail (click a node to attribute to it instead of the loss; breadcrumbs; back); ablation
// toggles with the new loss beside the old; verifyTopN's exact loss changes beside the first-order estimates.
// State: target, distractor, loss, position, ae, topk, verify, trail, ablate, sort.

import { api } from "../api/client.js";
import { decodeTensor } from "../api/tensor.js";
import type {
  AttributionAblation,
  AttributionNode,
  AttributionRequest,
  AttributionResponse,
  AttributionVerification,
  NodeType,
  TensorPayload,
} from "../api/types.js";
import { app, byId, cached, currentGeneration, guarded, navigate, showError, type PromptRun } from "../app.js";
import { colouredText, el, fixed3, heatColour, maxAbs, replace } from "../render.js";
import { formatNode, GROUPS, sameNode, type AppState, type NodeRef, type SortSpec } from "../state.js";
import { tokenTexts, type TokenText } from "../tokens.js";

const GROUP_TITLES: Record<string, string> = {
  activation: "activation",
  act_times_grad: "act × grad",
  write_norm: "write norm",
  direction_write: "direction write",
};
/** The autoencoders the service can splice into attribution (by what they read); it refuses the others by name. */
const SPLICED_INPUTS: ReadonlySet<string> = new Set(["mlp.post_act", "resid.delta_mlp", "resid.delta_attn"]);
/** What `trace` and `ablations` take: neurons, heads, latents (not embeddings, `layer`, nor error nodes). */
const NODE_TYPES: ReadonlySet<string> = new Set<NodeType>(["mlp_neuron", "attention_head", "mlp_autoencoder_latent", "attention_autoencoder_latent", "autoencoder_latent"]);
const ERROR_TYPES: ReadonlySet<string> = new Set(["mlp_autoencoder_error", "attention_autoencoder_error", "autoencoder_error"]);

/** Target and distractor: the state's, else the model's top two predictions at the loss position. */
export function lossTokens(state: AppState, run: PromptRun): { position: number; target: number; distractor: number | undefined } {
  const n = run.tokens.length;
  const position = state.position < 0 ? n + state.position : state.position;
  const predictions = run.forward.topPredictions[Math.max(0, Math.min(n - 1, position))] ?? [];
  const target = state.target ?? predictions[0]?.token ?? 0;
  const distractor = state.loss !== "logit_diff" ? undefined : (state.distractor ?? predictions.find((p) => p.token !== target)?.token);
  return { position, target, distractor };
}

/** The node as the request's `trace` or `ablations` entry names it. */
function ablationOf(node: NodeRef): AttributionAblation {
  const ablation: AttributionAblation = { nodeType: node.nodeType as NodeType, layerIndex: node.layer, tensorIndices: node.indices, value: 0 };
  if (node.autoencoder) ablation.autoencoder = node.autoencoder;
  return ablation;
}

/** The request the state asks for. `?prompt&view=attribution&target&distractor` alone: neurons and heads, no autoencoders, logit_diff at the last position, top 10. */
export function attributionRequest(state: AppState, run: PromptRun): AttributionRequest {
  const { target, distractor } = lossTokens(state, run);
  const request: AttributionRequest = { tokens: run.tokens };
  const traced = state.trail[state.trail.length - 1];
  if (!traced || traced.traceType === "V") {
    request.loss = { name: state.loss, targetTokens: [target], ...(distractor !== undefined ? { distractorTokens: [distractor] } : {}), position: state.position };
  }
  if (traced) {
    const trace: AttributionRequest["trace"] = { nodeType: traced.nodeType as NodeType, layerIndex: traced.layer, tensorIndices: traced.indices.map(Number) };
    if (traced.traceType) trace.attentionTraceType = traced.traceType;
    if (traced.autoencoder) trace.autoencoder = traced.autoencoder;
    request.trace = trace;
  }
  if (state.autoencoders.length > 0) request.autoencoders = state.autoencoders;
  if (state.ablate.length > 0) request.ablations = state.ablate.map(ablationOf);
  request.topK = state.topK;
  if (state.verify > 0) request.verifyTopN = state.verify;
  return request;
}

/** The node a table row is (its autoencoder kept for latents). */
function nodeOf(row: AttributionNode | AttributionVerification): NodeRef {
  const node: NodeRef = { nodeType: row.nodeType, layer: row.layerIndex ?? -1, indices: row.tensorIndices };
  if (row.autoencoder) node.autoencoder = row.autoencoder;
  return node;
}

/** What toggling a row's ablation ablates: a head at its query for every key, as TDB's UI does; the node otherwise. */
function ablationTarget(row: AttributionNode): NodeRef {
  const node = nodeOf(row);
  if (row.nodeType === "attention_head") node.indices = [row.tensorIndices[0]!, "All", row.tensorIndices[2]!];
  return node;
}

function tokenLabel(texts: TokenText[], t: number | undefined): string {
  return t === undefined ? "" : `#${t} ${texts[t]?.label ?? "?"}`;
}

/** A short name of a node: family, layer and unit. */
export function nodeName(node: { nodeType: string; layer?: number | null; indices: (number | "All")[]; autoencoder?: string | null; traceType?: string }): string {
  const i = node.indices;
  const layer = node.layer ?? -1;
  switch (node.nodeType) {
    case "mlp_neuron":
      return `MLP L${layer} n${i[1]}`;
    case "attention_head":
      return `attn L${layer} H${i[2]}${node.traceType ? ` ${node.traceType}` : ""}`;
    case "layer":
      return "embedding";
    case "mlp_autoencoder_error":
    case "attention_autoencoder_error":
    case "autoencoder_error":
      // Per neuron ([t, neuron]) for an mlp.post_act autoencoder, else one per token ([t, 0]).
      return `${node.autoencoder ?? node.nodeType} L${layer} error${node.nodeType === "mlp_autoencoder_error" && node.autoencoder && isPerNeuronError(node.autoencoder) ? ` n${i[1]}` : ""}`;
    default:
      return `${node.autoencoder ?? node.nodeType} L${layer} #${i[i.length - 1]}`;
  }
}

/** Whether an autoencoder's error nodes are per neuron (it encodes `mlp.post_act`, TDB's case) rather than per token. */
function isPerNeuronError(autoencoder: string): boolean {
  return app.model?.autoencoders.find((a) => a.name === autoencoder)?.inputType === "mlp.post_act";
}

function nodeTokens(texts: TokenText[], node: { nodeType: string; indices: (number | "All")[] }): string {
  const [a, b] = node.indices;
  if (node.nodeType === "attention_head") return `${typeof a === "number" ? tokenLabel(texts, a) : "all"} ← ${typeof b === "number" ? tokenLabel(texts, b) : "all keys"}`;
  return typeof a === "number" ? tokenLabel(texts, a) : "all";
}

/** Rows in display order: by the sort column (|value| descending, or signed), ties in the service's order. */
export function sortRows(rows: AttributionNode[], sort: SortSpec): AttributionNode[] {
  if (!sort.column) return rows.slice();
  const indexed = rows.map((row, i) => ({ row, i }));
  const key = (r: AttributionNode) => r.values[sort.column] ?? Number.NaN;
  const score = (r: AttributionNode) => (sort.order === "abs" ? -Math.abs(key(r)) : sort.order === "desc" ? -key(r) : key(r));
  indexed.sort((a, b) => {
    const sa = score(a.row);
    const sb = score(b.row);
    if (Number.isNaN(sa) || Number.isNaN(sb)) return Number.isNaN(sa) ? (Number.isNaN(sb) ? a.i - b.i : 1) : -1;
    return sa - sb || a.i - b.i;
  });
  return indexed.map((x) => x.row);
}

function loadAttribution(request: AttributionRequest): Promise<AttributionResponse> {
  return cached(`attribution:${JSON.stringify(request)}`, () => api.attribution(request));
}

export async function renderAttribution(run: PromptRun): Promise<void> {
  const state = app.state;
  const isCurrent = currentGeneration();
  const { position, target, distractor } = lossTokens(state, run);
  // The link names what is shown even when the defaults were taken.
  if (state.target !== target || (distractor !== undefined && state.distractor !== distractor)) {
    app.state = { ...state, target, distractor: distractor ?? state.distractor };
    void navigate({}, "replace").catch(() => {});
    return;
  }
  const names = await tokenNames(run, position, [target, distractor]);
  if (!isCurrent()) return;
  renderControls(run, position, target, distractor, names);
  renderTrail(run, position, target, distractor, names);
  renderAblations(run, state);
  const request = attributionRequest(state, run);
  replace(byId("attr-summary"), el("p", { class: "hint" }, "Computing the node table…"));
  for (const id of ["node-table", "verification", "attr-sums"]) byId(id).replaceChildren();
  let answer: AttributionResponse;
  try {
    answer = await loadAttribution(request);
  } catch (e) {
    if (isCurrent()) byId("attr-summary").replaceChildren();
    throw e;
  }
  if (!isCurrent()) return;
  renderSummary(answer, state);
  renderVerification(run, answer);
  renderSums(run, answer.sums);
  renderTable(run, state, answer);
}

// ---------------------------------------------------------------- controls

/** Labels of token ids: from the predictions where they are among them, else from a forward pass over the ids alone. */
async function tokenNames(run: PromptRun, position: number, ids: (number | undefined)[]): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  for (const p of run.forward.topPredictions[position] ?? []) names.set(p.token, JSON.stringify(p.tokenString));
  const missing = [...new Set(ids.filter((id): id is number => id !== undefined && !names.has(id)))];
  if (missing.length > 0) {
    const answer = await cached(`names:${missing}`, () => api.forward({ tokens: missing, capture: [], topK: 1 }));
    tokenTexts(answer.tokenBytes).forEach((tt, i) => names.set(missing[i]!, JSON.stringify(tt.text === "" ? tt.label : tt.text)));
  }
  return names;
}

/** A single token typed as text, as the target or the distractor. */
async function setTokenFromText(text: string, role: "target" | "distractor"): Promise<void> {
  const { tokens } = await api.tokenize(text);
  if (tokens.length !== 1) {
    showError(new Error(`${JSON.stringify(text)} is ${tokens.length} tokens (${tokens.join(", ")}); the ${role} must be one token`));
    return;
  }
  await navigate(role === "target" ? { target: tokens[0]! } : { distractor: tokens[0]! });
}

function renderControls(run: PromptRun, position: number, target: number, distractor: number | undefined, names: Map<number, string>): void {
  const state = app.state;
  const predictions = run.forward.topPredictions[position] ?? [];
  const tokenOptions = (selected: number | undefined) => {
    const options = predictions.map((p) => el("option", { value: p.token, selected: p.token === selected }, `${JSON.stringify(p.tokenString)} (${p.token}, logprob ${p.logprob.toFixed(2)})`));
    if (selected !== undefined && !predictions.some((p) => p.token === selected))
      options.unshift(el("option", { value: selected, selected: true }, `${names.get(selected) ?? "token"} (${selected})`));
    return options;
  };
  const targetSelect = el("select", { id: "attr-target" }, ...tokenOptions(target));
  targetSelect.addEventListener("change", () => void navigate({ target: Number(targetSelect.value) }));
  const distractorSelect = el("select", { id: "attr-distractor", disabled: state.loss !== "logit_diff" }, ...tokenOptions(distractor));
  distractorSelect.addEventListener("change", () => void navigate({ distractor: Number(distractorSelect.value) }));
  const tokenText = el("input", { id: "attr-token-text", type: "text", size: 10, placeholder: 'e.g. " LORD"', title: "a token as text (with its leading space)" });
  const asTarget = el("button", { type: "button", id: "attr-set-target" }, "as target");
  asTarget.addEventListener("click", () => void guarded(() => setTokenFromText(tokenText.value, "target")));
  const asDistractor = el("button", { type: "button", id: "attr-set-distractor", disabled: state.loss !== "logit_diff" }, "as distractor");
  asDistractor.addEventListener("click", () => void guarded(() => setTokenFromText(tokenText.value, "distractor")));
  const lossSelect = el(
    "select",
    { id: "attr-loss" },
    ...(["logit_diff", "probs", "logprob"] as const).map((l) => el("option", { value: l, selected: l === state.loss }, l)),
  );
  lossSelect.addEventListener("change", () => void navigate({ loss: lossSelect.value as AppState["loss"] }));
  const topK = el("input", { id: "attr-topk", type: "number", min: 1, max: 200, value: state.topK });
  topK.addEventListener("change", () => void navigate({ topK: Math.max(1, Math.min(200, Math.floor(Number(topK.value) || 10))) }));
  const verify = el("input", { id: "attr-verify", type: "number", min: 0, max: 50, value: state.verify });
  verify.addEventListener("change", () => void navigate({ verify: Math.max(0, Math.min(50, Math.floor(Number(verify.value) || 0))) }));
  const autoencoders = app.model!.autoencoders.map((ae) => {
    const splices = SPLICED_INPUTS.has(ae.inputType);
    const box = el("input", {
      type: "checkbox",
      class: "attr-ae",
      value: ae.name,
      checked: state.autoencoders.includes(ae.name),
      disabled: !splices && !state.autoencoders.includes(ae.name),
      title: splices ? `splice ${ae.name} in: its latents and error nodes become nodes` : `${ae.name} reads ${ae.inputType}: the service splices only mlp.post_act, resid.delta_mlp and resid.delta_attn autoencoders into attribution`,
    });
    box.addEventListener("change", () => {
      const chosen = app.model!.autoencoders.map((a) => a.name).filter((name) => (name === ae.name ? box.checked : state.autoencoders.includes(name)));
      void navigate({ autoencoders: chosen, trail: [], ablate: [] });
    });
    return el("label", {}, box, ` ${ae.name}`);
  });
  replace(
    byId("attr-controls"),
    el("label", {}, "Loss ", lossSelect),
    el("label", {}, "Target ", targetSelect),
    el("label", {}, "Distractor ", distractorSelect),
    el("span", {}, "or type one token: ", tokenText, " ", asTarget, " ", asDistractor),
    el("span", { class: "hint" }, `at position ${position} ${JSON.stringify(run.texts[position]?.text ?? "")}`),
    ...(autoencoders.length ? [el("span", {}, "Autoencoders: ", ...autoencoders)] : []),
    el("label", {}, "Top/bottom k ", topK),
    el("label", { title: "re-run the forward with each of the top n nodes (by |act × grad|) ablated to zero" }, "Verify top ", verify),
  );
}

function lossLabel(state: AppState, position: number, target: number, distractor: number | undefined, names: Map<number, string>): string {
  const name = (id: number | undefined) => (id === undefined ? "" : (names.get(id) ?? `token ${id}`));
  if (state.loss === "logit_diff") return `logit ${name(target)} − logit ${name(distractor)} at #${position}`;
  return `${state.loss === "probs" ? "p" : "log p"}(${name(target)}) at #${position}`;
}

/** Breadcrumbs: the loss, then each traced node; a crumb returns to its table, Back to the one before. */
function renderTrail(run: PromptRun, position: number, target: number, distractor: number | undefined, names: Map<number, string>): void {
  const state = app.state;
  const crumbs: HTMLElement[] = [];
  const crumb = (label: string, depth: number) => {
    const current = depth === state.trail.length;
    const button = el("button", { type: "button", class: current ? "crumb current" : "crumb", "data-depth": depth, "aria-current": current ? "page" : undefined }, label);
    if (!current) button.addEventListener("click", () => void navigate({ trail: state.trail.slice(0, depth) }));
    crumbs.push(button);
  };
  crumb(`loss: ${lossLabel(state, position, target, distractor, names)}`, 0);
  state.trail.forEach((node, i) => {
    crumbs.push(el("span", { class: "crumb-sep" }, "›"));
    crumb(`${nodeName(node)} ${nodeTokens(run.texts, node)}`, i + 1);
  });
  const back = el("button", { type: "button", id: "trace-back", disabled: state.trail.length === 0 }, "← Back");
  back.addEventListener("click", () => void navigate({ trail: state.trail.slice(0, -1) }));
  replace(byId("breadcrumbs"), back, ...crumbs);
}

function renderSummary(answer: AttributionResponse, state: AppState): void {
  const parts: (HTMLElement | string)[] = [];
  const traced = state.trail[state.trail.length - 1];
  if (answer.tracedValue !== undefined && answer.tracedValue !== null)
    parts.push(el("span", { class: "traced", "data-value": answer.tracedValue }, `traced value (${nodeName(traced!)} pre-activation) ${fixed3(answer.tracedValue)}`));
  if (answer.loss !== undefined && answer.loss !== null) {
    parts.push(el("span", { class: "loss", id: "attr-loss-value", "data-value": answer.loss }, `loss ${fixed3(answer.loss)}`));
    if (answer.unablatedLoss !== undefined && answer.unablatedLoss !== null)
      parts.push(
        " ",
        el("span", { class: "unablated", id: "attr-unablated-loss", "data-value": answer.unablatedLoss }, `(without ablations ${fixed3(answer.unablatedLoss)}; `),
        el("span", { class: "loss-change", "data-value": answer.loss - answer.unablatedLoss }, `change ${fixed3(answer.loss - answer.unablatedLoss)})`),
      );
  }
  replace(byId("attr-summary"), el("p", { id: "attr-loss-line" }, ...parts));
}

function renderAblations(run: PromptRun, state: AppState): void {
  if (state.ablate.length === 0) {
    replace(byId("ablations"), el("p", { class: "hint" }, "Tick a node's box to ablate it (set to 0 in the forward pass); heads are ablated at their query token for every key, as TDB does."));
    return;
  }
  const clear = el("button", { type: "button", id: "ablations-clear" }, "clear");
  clear.addEventListener("click", () => void navigate({ ablate: [] }));
  replace(
    byId("ablations"),
    el("span", {}, "Ablated: "),
    ...state.ablate.map((node) => {
      const remove = el("button", { type: "button", class: "ablation", "data-node": formatNode(node), title: "remove this ablation" }, `${nodeName(node)} ${nodeTokens(run.texts, node)} ×`);
      remove.addEventListener("click", () => void navigate({ ablate: state.ablate.filter((n) => !sameNode(n, node)) }));
      return remove;
    }),
    clear,
  );
}

function renderVerification(run: PromptRun, answer: AttributionResponse): void {
  const entries = answer.verification ?? [];
  if (entries.length === 0) {
    byId("verification").replaceChildren();
    return;
  }
  const what = answer.loss === undefined || answer.loss === null ? "traced value" : "loss";
  const rows = entries.map((entry) => {
    const node = nodeOf(entry);
    return el(
      "tr",
      { "data-node": formatNode(node) },
      el("td", { class: "node" }, nodeName(node)),
      el("td", { class: "node-tokens" }, nodeTokens(run.texts, node)),
      el("td", { class: "num act-times-grad", "data-value": entry.actTimesGrad }, fixed3(entry.actTimesGrad)),
      el("td", { class: "num estimate", "data-value": entry.estimate }, fixed3(entry.estimate)),
      el("td", { class: "num exact", "data-value": entry.lossChange }, fixed3(entry.lossChange)),
      el("td", { class: "num difference", "data-value": entry.lossChange - entry.estimate }, fixed3(entry.lossChange - entry.estimate)),
      el("td", { class: "num ablated-value", "data-value": entry.ablatedValue }, fixed3(entry.ablatedValue)),
    );
  });
  replace(
    byId("verification"),
    el("h3", {}, `Verified: the ${entries.length} nodes of largest |act × grad| (of every kind, in the table or not), each set to zero`),
    el(
      "table",
      { id: "verify-table", class: "nodes" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", {}, "node"),
          el("th", {}, "token"),
          el("th", {}, "act × grad"),
          el("th", {}, "estimated change (−act × grad)"),
          el("th", {}, "exact change"),
          el("th", {}, "exact − estimate"),
          el("th", {}, `${what} with the node at 0`),
        ),
      ),
      el("tbody", {}, ...rows),
    ),
  );
}

/** Per group and derived scalar, the sums per token as coloured text (`[q, k]` sums shown by key and by query). */
function renderSums(run: PromptRun, sums: Record<string, Record<string, TensorPayload>>): void {
  const box = byId("attr-sums");
  const n = run.tokens.length;
  const blocks: HTMLElement[] = [el("h3", {}, "Sums per token (all nodes of each kind; hover for values)")];
  for (const group of Object.keys(sums)) {
    for (const [dst, payload] of Object.entries(sums[group]!)) {
      const t = decodeTensor(payload);
      const rows: [string, number[]][] = [];
      if (t.shape.length === 2 && t.shape[0] === n && t.shape[1] === n) {
        rows.push(["by key", Array.from({ length: n }, (_, k) => sumOver(n, (q) => t.values[q * n + k]!))]);
        rows.push(["by query", Array.from({ length: n }, (_, q) => sumOver(n, (k) => t.values[q * n + k]!))]);
      } else rows.push(["", Array.from(t.values.slice(0, n))]);
      for (const [axis, values] of rows)
        blocks.push(
          el(
            "div",
            { class: "sum-row" },
            el("span", { class: "sum-name" }, `${GROUP_TITLES[group] ?? group} · ${dst}${axis ? ` (${axis})` : ""}`),
            colouredText(run.texts, values, { class: "coloured-text sum", "data-group": group, "data-dst": dst, "data-axis": axis }),
          ),
        );
    }
  }
  replace(box, el("details", { id: "attr-sums-details" }, el("summary", {}, "Per-token sums"), ...blocks));
}

function sumOver(n: number, at: (i: number) => number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += at(i);
  return s;
}

// ---------------------------------------------------------------- the table

function renderTable(run: PromptRun, state: AppState, answer: AttributionResponse): void {
  const groups = GROUPS.filter((g) => answer.nodeTable.some((row) => row.values[g] !== undefined));
  const rows = sortRows(answer.nodeTable, state.sort);
  const rank = new Map(answer.nodeTable.map((row, i) => [row, i]));
  const scales = Object.fromEntries(groups.map((g) => [g, maxAbs(answer.nodeTable.map((r) => r.values[g] ?? 0))]));
  const header = el(
    "tr",
    {},
    el("th", { title: "ablate" }, "ablate"),
    serviceOrderHeader(state),
    el("th", {}, "node"),
    el("th", {}, "token (query ← key)"),
    ...groups.map((g) => {
      const active = state.sort.column === g;
      const arrow = active ? (state.sort.order === "abs" ? " |↓|" : state.sort.order === "desc" ? " ↓" : " ↑") : "";
      const th = el("th", { class: active ? "sortable sorted" : "sortable", "data-group": g, "data-order": active ? state.sort.order : "", title: "sort: |value|, then value descending, then ascending" }, GROUP_TITLES[g] + arrow);
      th.addEventListener("click", () => {
        const order = !active ? "abs" : state.sort.order === "abs" ? "desc" : state.sort.order === "desc" ? "asc" : "abs";
        void navigate({ sort: { column: g, order } });
      });
      return th;
    }),
    el("th", {}, "trace / unit"),
  );
  const body = rows.map((row) => tableRow(run, state, row, rank.get(row)!, groups, scales));
  replace(
    byId("node-table"),
    el("table", { id: "node-table-table", class: "nodes", "data-sort": `${state.sort.column}:${state.sort.order}`, "data-rows": rows.length }, el("thead", {}, header), el("tbody", {}, ...body)),
  );
}

/** The `#` column: each row's place in the service's answer; a click shows the rows in that order. */
function serviceOrderHeader(state: AppState): HTMLElement {
  const active = state.sort.column === "";
  const th = el(
    "th",
    { class: active ? "sortable sorted" : "sortable", "data-group": "", title: "the service's order: group by group (write norm, act × grad, direction write, activation), each kind's top nodes then its bottom nodes" },
    active ? "# ↓" : "#",
  );
  th.addEventListener("click", () => void navigate({ sort: { column: "", order: "abs" } }));
  return th;
}

function tableRow(run: PromptRun, state: AppState, row: AttributionNode, rank: number, groups: string[], scales: Record<string, number>): HTMLElement {
  const node = nodeOf(row);
  const ablation = ablationTarget(row);
  const ablated = state.ablate.some((n) => sameNode(n, ablation));
  // Embeddings (`layer`) and error nodes can be neither ablated nor traced.
  const isNode = NODE_TYPES.has(row.nodeType) && node.layer >= 0;
  const box = el("input", {
    type: "checkbox",
    class: "ablate",
    checked: ablated,
    disabled: !isNode,
    title: isNode ? `ablate ${nodeName(ablation)} ${nodeTokens(run.texts, ablation)}` : ERROR_TYPES.has(row.nodeType) ? "error nodes cannot be ablated" : "embeddings cannot be ablated",
  });
  box.addEventListener("change", () =>
    void navigate({ ablate: box.checked ? [...state.ablate.filter((n) => !sameNode(n, ablation)), ablation] : state.ablate.filter((n) => !sameNode(n, ablation)) }),
  );
  const actions: HTMLElement[] = [];
  if (isNode) {
    const types = row.nodeType === "attention_head" ? (["QK", "Q", "K", "V"] as const) : [undefined];
    for (const traceType of types) {
      // A latent keeps its autoencoder (sent as trace.autoencoder).
      const traced: NodeRef = { ...nodeOf(row) };
      if (traceType) traced.traceType = traceType;
      const button = el("button", { type: "button", class: "trace", "data-trace-type": traceType ?? "", title: "attribute to this node's pre-activation instead" }, traceType ? `trace ${traceType}` : "trace");
      button.addEventListener("click", () => void navigate({ trail: [...state.trail, traced] }));
      actions.push(button);
    }
    const unitLink = el("a", { href: "#", class: "unit-page" }, "unit");
    unitLink.addEventListener("click", (event) => {
      event.preventDefault();
      void navigate(unitPage(row, node.layer));
    });
    actions.push(unitLink);
  }
  return el(
    "tr",
    {
      class: `node-row${ablated ? " ablated" : ""}${ERROR_TYPES.has(row.nodeType) ? " error-node" : ""}`,
      "data-node": formatNode(node),
      "data-rank": rank,
      "data-node-type": row.nodeType,
      "data-layer": node.layer < 0 ? "" : node.layer,
      "data-indices": row.tensorIndices.join(","),
      "data-autoencoder": row.autoencoder ?? "",
    },
    el("td", {}, box),
    el("td", { class: "num rank" }, String(rank + 1)),
    el("td", { class: "node" }, nodeName(node)),
    el("td", { class: "node-tokens" }, nodeTokens(run.texts, node)),
    ...groups.map((g) => {
      const x = row.values[g];
      return x === undefined
        ? el("td", { class: "num", "data-group": g })
        : el("td", { class: "num value", "data-group": g, "data-value": x, title: String(x), style: `background:${heatColour(x, scales[g] ?? 0)}` }, fixed3(x));
    }),
    el("td", { class: "actions" }, ...actions),
  );
}

/** The unit page of a node-table row (its token is the query for heads). */
function unitPage(row: AttributionNode, layer: number): Partial<AppState> {
  const i = row.tensorIndices;
  if (row.nodeType === "attention_head") return { view: "unit", node: "attention_head", layer, unit: i[2], query: i[0] };
  if (row.nodeType === "mlp_neuron") return { view: "unit", node: "mlp_neuron", layer, unit: i[1] };
  const ae = row.autoencoder ?? app.model!.autoencoders.find((a) => a.nodeType === row.nodeType && a.layers.includes(layer))?.name;
  return { view: "unit", node: ae ? `ae:${ae}` : "mlp_neuron", layer, unit: i[1] };
}
