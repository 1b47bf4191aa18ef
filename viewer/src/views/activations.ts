// Activations & gradients: one layer's units as a tokens × units heatmap (MLP neurons, autoencoder latents) or a
// head's query × key pattern, a unit per token as coloured text, and the gradient of any cell with respect to the
// residual stream as a norm per token. State: node, layer, act, attn, detach, units, head, unit, cell.

import { api } from "../api/client.js";
import { decodeTensor, type Tensor } from "../api/tensor.js";
import type { ActivationsRequest } from "../api/types.js";
import { app, byId, cached, currentGeneration, navigate, nodeChoice, residualFor, type NodeChoice, type PromptRun } from "../app.js";
import { colouredText, el, fmt, heatColour, maxAbs, replace } from "../render.js";
import type { AppState } from "../state.js";

const ui = {
  title: () => byId<HTMLElement>("activations-title"),
  heads: () => byId<HTMLElement>("heads"),
  heatmap: () => byId<HTMLElement>("heatmap"),
  unitDetail: () => byId<HTMLElement>("unit-detail"),
  gradient: () => byId<HTMLElement>("gradient"),
};

/** The /v1/activations request for the state's node family and layer. */
export function activationsRequest(run: PromptRun, choice: NodeChoice, state: AppState): ActivationsRequest {
  const request: ActivationsRequest = {
    residual: residualFor(run, choice),
    layerIndex: choice.layer,
    nodeType: choice.nodeType,
    preOrPostAct: state.act,
    detachLayerNormScale: state.detach,
  };
  if (choice.kind === "attention") request.attentionTraceType = state.attn;
  if (choice.autoencoder) request.autoencoder = choice.autoencoder.name;
  return request;
}

/** The activations of a request, asked once per prompt and request. */
export function loadActivations(run: PromptRun, request: ActivationsRequest): Promise<Tensor> {
  const { residual: _residual, ...rest } = request;
  return cached(`activations:${run.prompt}:${JSON.stringify(rest)}`, async () => decodeTensor((await api.activations(request)).activations));
}

export function describe(choice: NodeChoice, state: AppState): string {
  const what =
    choice.kind === "attention"
      ? `attention ${state.act === "pre" ? "logits (pre-softmax)" : "probabilities"}, trace ${state.attn}`
      : choice.kind === "mlp"
        ? `MLP neurons, ${state.act}-activation`
        : `${choice.autoencoder?.name} latents, ${state.act}-activation`;
  return `Layer ${choice.layer}: ${what}${state.detach ? " · layer-norm scale detached" : ""}`;
}

/** Data attributes naming what a heatmap shows (for tests and for reading the DOM). */
function choiceAttrs(choice: NodeChoice, state: AppState): Record<string, string | number> {
  return {
    "data-kind": choice.kind,
    "data-node-type": choice.nodeType,
    "data-layer": choice.layer,
    "data-pre-or-post": state.act,
    "data-trace": choice.kind === "attention" ? state.attn : "",
    "data-detach": String(state.detach),
  };
}

export async function renderActivations(run: PromptRun): Promise<void> {
  const state = app.state;
  const choice = nodeChoice(state, app.model!);
  const isCurrent = currentGeneration();
  const request = activationsRequest(run, choice, state);
  const tensor = await loadActivations(run, request);
  if (!isCurrent()) return;
  if (choice.kind === "attention") {
    ui.unitDetail().replaceChildren();
    renderAttention(run, choice, state, tensor);
    const cell = state.cell?.length === 3 && state.cell[2] === state.head ? state.cell : undefined;
    if (cell) await renderGradient(run, request, cell, `query ${cell[0]}, key ${cell[1]}, head ${cell[2]}`);
    else ui.gradient().replaceChildren();
  } else {
    ui.heads().replaceChildren();
    const units = renderUnits(run, choice, state, tensor);
    if (state.unit !== undefined && state.unit < tensor.shape[1]!) showUnit(run, tensor, state.unit, units.includes(state.unit));
    else ui.unitDetail().replaceChildren();
    const cell = state.cell?.length === 2 ? state.cell : undefined;
    if (cell) await renderGradient(run, request, cell, `token ${cell[0]}, unit ${cell[1]}`);
    else ui.gradient().replaceChildren();
  }
}

/** Tokens × top-k units heatmap (MLP neurons and autoencoder latents); returns the units shown. */
function renderUnits(run: PromptRun, choice: NodeChoice, state: AppState, tensor: Tensor): number[] {
  const [nTokens, nUnits] = tensor.shape as [number, number];
  const v = tensor.values;
  const peak = new Float32Array(nUnits).fill(Number.NEGATIVE_INFINITY);
  for (let t = 0; t < nTokens; t++)
    for (let u = 0; u < nUnits; u++) {
      const x = v[t * nUnits + u]!;
      if (x > peak[u]!) peak[u] = x;
    }
  const order = Array.from({ length: nUnits }, (_, u) => u).sort((a, b) => peak[b]! - peak[a]! || a - b);
  const units = order.slice(0, Math.min(state.units, nUnits));
  const scale = maxAbs(units.flatMap((u) => Array.from({ length: nTokens }, (_, t) => v[t * nUnits + u]!)));
  ui.title().textContent = `${describe(choice, state)} · top ${units.length} of ${nUnits} units by max activation`;

  const head = el(
    "tr",
    {},
    el("th", { class: "corner" }, "token \\ unit"),
    ...units.map((u) =>
      el("th", { class: "unit", "data-unit": u, title: `unit ${u}: max ${fmt(peak[u]!)}; click for its activation per token` }, String(u)),
    ),
  );
  const rows = Array.from({ length: nTokens }, (_, t) =>
    el(
      "tr",
      {},
      el("th", { class: "row-token", "data-token": t }, run.texts[t]?.label ?? ""),
      ...units.map((u) => {
        const x = v[t * nUnits + u]!;
        const selected = state.cell?.length === 2 && state.cell[0] === t && state.cell[1] === u;
        return el(
          "td",
          {
            class: `cell${x === 0 ? " zero" : ""}${selected ? " selected" : ""}`,
            "data-token": t,
            "data-unit": u,
            "data-value": x,
            title: `token ${t} ${JSON.stringify(run.texts[t]?.text ?? "")}, unit ${u}: ${x}\nclick for the gradient`,
            style: `background:${heatColour(x, scale)}`,
          },
          fmt(x),
        );
      }),
    ),
  );
  const table = el("table", { id: "heatmap-table", class: "heatmap units", ...choiceAttrs(choice, state) }, el("thead", {}, head), el("tbody", {}, ...rows));
  table.addEventListener("click", (event) => {
    const target = (event.target as HTMLElement).closest<HTMLElement>("td.cell, th.unit");
    if (!target) return;
    const unit = Number(target.dataset.unit);
    if (target.matches("td.cell")) void navigate({ unit, cell: [Number(target.dataset.token), unit] });
    else void navigate({ unit });
  });
  ui.heatmap().replaceChildren(table);
  return units;
}

/** One unit's activation per token, as coloured text, with a link to its unit page. */
function showUnit(run: PromptRun, tensor: Tensor, unit: number, shown: boolean): void {
  const [nTokens, nUnits] = tensor.shape as [number, number];
  const values = Array.from({ length: nTokens }, (_, t) => tensor.values[t * nUnits + unit]!);
  const link = el("a", { href: "#", class: "unit-link", "data-unit": unit }, "open its unit page");
  link.addEventListener("click", (event) => {
    event.preventDefault();
    void navigate({ view: "unit", unit, cell: undefined });
  });
  replace(
    ui.unitDetail(),
    el("h3", {}, `Unit ${unit} per token`, el("span", { class: "hint" }, ` (max |a| ${fmt(maxAbs(values))}${shown ? "" : "; not among the units shown"}) · `), link),
    colouredText(run.texts, values, { id: "unit-text", "data-unit": unit }),
  );
}

/** Query × key heatmap of one head, with a head selector. */
function renderAttention(run: PromptRun, choice: NodeChoice, state: AppState, tensor: Tensor): void {
  const [nQ, nK, nHeads] = tensor.shape as [number, number, number];
  const h = state.head < nHeads ? state.head : 0;
  ui.heads().replaceChildren(
    el("span", { class: "label" }, "Head "),
    ...Array.from({ length: nHeads }, (_, i) => {
      const button = el("button", { type: "button", class: "head", "data-head": i, "aria-pressed": String(i === h) }, String(i));
      button.addEventListener("click", () => void navigate({ head: i, cell: undefined }));
      return button;
    }),
  );
  const v = tensor.values;
  const at = (q: number, k: number) => v[(q * nK + k) * nHeads + h]!;
  const visibleValues: number[] = [];
  for (let q = 0; q < nQ; q++) for (let k = 0; k <= Math.min(q, nK - 1); k++) visibleValues.push(at(q, k));
  const scale = maxAbs(visibleValues);
  ui.title().textContent = `${describe(choice, state)} · head ${h} · rows: query, columns: key`;
  const head = el(
    "tr",
    {},
    el("th", { class: "corner" }, "query \\ key"),
    ...Array.from({ length: nK }, (_, k) => el("th", { class: "key", "data-key": k }, run.texts[k]?.label ?? "")),
  );
  const rows = Array.from({ length: nQ }, (_, q) =>
    el(
      "tr",
      {},
      el("th", { class: "row-token", "data-token": q }, run.texts[q]?.label ?? ""),
      ...Array.from({ length: nK }, (_, k) => {
        const x = at(q, k);
        if (k > q || !Number.isFinite(x))
          return el("td", { class: "cell masked", "data-query": q, "data-key": k, "data-head": h, "data-masked": true });
        const selected = state.cell?.length === 3 && state.cell[0] === q && state.cell[1] === k && state.cell[2] === h;
        return el(
          "td",
          {
            class: selected ? "cell selected" : "cell",
            "data-query": q,
            "data-key": k,
            "data-head": h,
            "data-value": x,
            title: `query ${q}, key ${k}, head ${h}: ${x}\nclick for the gradient`,
            style: `background:${heatColour(x, scale)}`,
          },
          fmt(x),
        );
      }),
    ),
  );
  const table = el("table", { id: "heatmap-table", class: "heatmap attention", ...choiceAttrs(choice, state), "data-head": h }, el("thead", {}, head), el("tbody", {}, ...rows));
  table.addEventListener("click", (event) => {
    const target = (event.target as HTMLElement).closest<HTMLElement>("td.cell:not(.masked)");
    if (target) void navigate({ cell: [Number(target.dataset.query), Number(target.dataset.key), h] });
  });
  ui.heatmap().replaceChildren(table);
}

/** Gradient of one activation with respect to the residual: its L2 norm per token. */
async function renderGradient(run: PromptRun, request: ActivationsRequest, indices: number[], label: string): Promise<void> {
  const isCurrent = currentGeneration();
  replace(ui.gradient(), el("p", { class: "hint" }, `Computing the gradient of ${label}…`));
  const { residual: _residual, ...rest } = request;
  const g = await cached(`gradient:${run.prompt}:${JSON.stringify(rest)}:${indices}`, async () =>
    decodeTensor((await api.gradients({ ...request, tensorIndices: indices })).gradient),
  );
  if (!isCurrent()) return;
  const [nTokens, dModel] = g.shape as [number, number];
  const norms = Array.from({ length: nTokens }, (_, t) => {
    let s = 0;
    for (let i = 0; i < dModel; i++) s += g.values[t * dModel + i]! ** 2;
    return Math.sqrt(s);
  });
  const scale = maxAbs(norms);
  replace(
    ui.gradient(),
    el("h3", {}, `Gradient of ${label} w.r.t. the residual stream: L2 norm per token`),
    colouredText(run.texts, norms, { id: "gradient-text", "data-indices": indices.join(",") }, (t) => `‖∂/∂resid[${t}]‖ = ${norms[t]}`),
    el(
      "table",
      { class: "bars", id: "gradient-table" },
      ...norms.map((n, t) =>
        el(
          "tr",
          {},
          el("th", {}, `${t}`),
          el("td", { class: "bar-token" }, run.texts[t]?.label ?? ""),
          el("td", { class: "bar-cell" }, el("span", { class: "bar", style: `width:${scale > 0 ? (100 * n) / scale : 0}%` })),
          el("td", { class: "num", "data-token": t, "data-value": n }, fmt(n)),
        ),
      ),
    ),
  );
}
