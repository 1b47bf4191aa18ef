// The neuron viewer: prompt → tokens → activations, attention patterns, gradients and next-token logprobs,
// all recomputed by the service's public v1 endpoints.

import {
  api,
  ApiError,
  decodeTensor,
  onPendingChange,
  type ActivationsRequest,
  type AutoencoderInfo,
  type ForwardResponse,
  type ModelInfo,
  type Tensor,
  type TensorPayload,
} from "./api.js";
import { el, fmt, heatColour, maxAbs, replace, showToken } from "./render.js";

/** What the forward pass gave for the current prompt. */
interface PromptRun {
  tokens: number[];
  tokenStrings: string[];
  forward: ForwardResponse;
  /** Captured residuals keyed `location@layer` (`@` alone for layer-less locations). */
  residuals: Map<string, TensorPayload>;
  /** The logprobs of the tokens that follow somewhere in the prompt: column `columns.get(token)` of each row. */
  logprobs?: { detach: boolean; tensor?: Tensor; columns: Map<number, number> };
}

type NodeKind = "mlp" | "attention" | "latent";
type View = "activations" | "logprobs";

/** The node family and settings chosen in the controls. */
interface NodeChoice {
  kind: NodeKind;
  nodeType: string;
  autoencoder?: AutoencoderInfo;
  layer: number;
  preOrPost: "pre" | "post";
  trace: "QK" | "Q" | "K";
  detach: boolean;
  topK: number;
}

/** Activations shown in the activations view, with the request that produced them. */
interface Shown {
  run: PromptRun;
  choice: NodeChoice;
  request: ActivationsRequest;
  tensor: Tensor;
  /** MLP / latent views: the units shown, most active first. */
  units?: number[];
}

const CAPTURE = ["resid.post_emb", "resid.post_attn", "resid.post_mlp"];
const TOP_PREDICTIONS = 5;

const byId = <T extends HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node as T;
};

const ui = {
  prompt: byId<HTMLTextAreaElement>("prompt"),
  run: byId<HTMLButtonElement>("run"),
  modelInfo: byId<HTMLElement>("model-info"),
  busy: byId<HTMLElement>("busy"),
  error: byId<HTMLElement>("error"),
  tokens: byId<HTMLElement>("tokens"),
  nodeKind: byId<HTMLSelectElement>("node-kind"),
  layer: byId<HTMLSelectElement>("layer"),
  preOrPost: byId<HTMLSelectElement>("pre-or-post"),
  trace: byId<HTMLSelectElement>("trace-type"),
  detach: byId<HTMLInputElement>("detach"),
  topK: byId<HTMLInputElement>("top-k"),
  tabs: Array.from(document.querySelectorAll<HTMLButtonElement>("#views button[data-view]")),
  activationsPanel: byId<HTMLElement>("activations-panel"),
  logprobsPanel: byId<HTMLElement>("logprobs-panel"),
  activationsTitle: byId<HTMLElement>("activations-title"),
  heads: byId<HTMLElement>("heads"),
  heatmap: byId<HTMLElement>("heatmap"),
  unitDetail: byId<HTMLElement>("unit-detail"),
  gradient: byId<HTMLElement>("gradient"),
  logprobs: byId<HTMLElement>("logprobs"),
};

const state: {
  model?: ModelInfo;
  run?: PromptRun;
  view: View;
  shown?: Shown;
  head: number;
  /** Bumped whenever the prompt or a control changes, so that late responses are dropped. */
  generation: number;
} = { view: "activations", head: 0, generation: 0 };

// ---------------------------------------------------------------- errors and progress

function showError(error: unknown): void {
  let status = "";
  let message: string;
  if (error instanceof ApiError) {
    status = error.status > 0 ? `${error.status} ${error.title}` : error.title;
    message = error.detail ?? error.title;
    ui.error.dataset.status = String(error.status);
    if (error.field) ui.error.dataset.field = error.field;
    else delete ui.error.dataset.field;
  } else {
    message = error instanceof Error ? error.message : String(error);
    ui.error.dataset.status = "";
  }
  replace(ui.error, el("strong", { class: "error-status" }, status || "Error"), " ", el("span", { class: "error-message" }, message));
  ui.error.hidden = false;
}

function clearError(): void {
  ui.error.hidden = true;
  ui.error.replaceChildren();
}

onPendingChange((pending) => {
  ui.busy.hidden = pending === 0;
  document.body.dataset.pending = String(pending);
  ui.run.disabled = pending > 0;
});

/** Runs an async action, showing its failure; returns undefined on failure. */
async function guarded<T>(action: () => Promise<T>): Promise<T | undefined> {
  try {
    return await action();
  } catch (e) {
    showError(e);
    return undefined;
  }
}

// ---------------------------------------------------------------- model and controls

async function loadModel(): Promise<ModelInfo> {
  if (state.model) return state.model;
  const model = await api.model();
  state.model = model;
  const c = model.config;
  ui.modelInfo.textContent =
    `${c.nLayers} layers · d_model ${c.dModel} · ${c.nHeads} heads · d_ff ${c.dFf} · context ${c.nCtx} · ${model.device}` +
    (model.autoencoders.length ? ` · autoencoders: ${model.autoencoders.map((a) => a.name).join(", ")}` : "");

  const kinds: HTMLOptionElement[] = [
    el("option", { value: "mlp_neuron" }, "MLP neuron"),
    el("option", { value: "attention_head" }, "Attention head"),
  ];
  for (const ae of model.autoencoders)
    kinds.push(el("option", { value: `ae:${ae.name}` }, `Autoencoder latent (${ae.name})`));
  ui.nodeKind.replaceChildren(...kinds);
  fillLayers();
  syncControls();
  return model;
}

function chosenAutoencoder(): AutoencoderInfo | undefined {
  const value = ui.nodeKind.value;
  if (!value.startsWith("ae:")) return undefined;
  return state.model?.autoencoders.find((a) => a.name === value.slice(3));
}

function fillLayers(): void {
  if (!state.model) return;
  const previous = Number(ui.layer.value || 0);
  const ae = chosenAutoencoder();
  const layers = ae ? ae.layers : Array.from({ length: state.model.config.nLayers }, (_, i) => i);
  ui.layer.replaceChildren(...layers.map((l) => el("option", { value: l }, String(l))));
  ui.layer.value = String(layers.includes(previous) ? previous : layers[0] ?? 0);
}

function syncControls(): void {
  const attention = ui.nodeKind.value === "attention_head";
  ui.trace.disabled = !attention;
  ui.topK.disabled = attention;
}

function currentChoice(): NodeChoice {
  const ae = chosenAutoencoder();
  const kindValue = ui.nodeKind.value;
  const kind: NodeKind = ae ? "latent" : kindValue === "attention_head" ? "attention" : "mlp";
  return {
    kind,
    nodeType: ae ? ae.nodeType : kindValue,
    autoencoder: ae,
    layer: Number(ui.layer.value),
    preOrPost: ui.preOrPost.value === "pre" ? "pre" : "post",
    trace: (ui.trace.value as "QK" | "Q" | "K") || "QK",
    detach: ui.detach.checked,
    topK: Math.max(1, Math.min(64, Math.floor(Number(ui.topK.value) || 12))),
  };
}

/**
 * The residual stream a node reads: before the layer's attention block for attention heads and for
 * autoencoders on `resid.delta_attn`; `resid.post_attn` of the layer otherwise.
 */
function residualFor(run: PromptRun, choice: NodeChoice): TensorPayload {
  const beforeAttention =
    choice.kind === "attention" || (choice.kind === "latent" && choice.autoencoder?.inputType === "resid.delta_attn");
  const key = beforeAttention
    ? choice.layer === 0
      ? "resid.post_emb@"
      : `resid.post_mlp@${choice.layer - 1}`
    : `resid.post_attn@${choice.layer}`;
  const residual = run.residuals.get(key);
  if (!residual) throw new Error(`the forward pass did not return ${key}`);
  return residual;
}

// ---------------------------------------------------------------- prompt

async function runPrompt(): Promise<void> {
  clearError();
  const generation = ++state.generation;
  state.run = undefined;
  state.shown = undefined;
  ui.heatmap.replaceChildren();
  ui.unitDetail.replaceChildren();
  ui.gradient.replaceChildren();
  ui.logprobs.replaceChildren();
  const text = ui.prompt.value;
  await guarded(async () => {
    await loadModel();
    const tokenized = await api.tokenize(text);
    if (generation !== state.generation) return;
    renderChips(tokenized.tokenStrings, tokenized.tokens);
    const forward = await api.forward(text, CAPTURE, TOP_PREDICTIONS);
    if (generation !== state.generation) return;
    const residuals = new Map<string, TensorPayload>();
    for (const c of forward.captured) residuals.set(`${c.location}@${c.layer ?? ""}`, c.tensor);
    state.run = { tokens: forward.tokens, tokenStrings: forward.tokenStrings, forward, residuals };
    renderChips(forward.tokenStrings, forward.tokens);
    document.body.dataset.tokens = String(forward.tokens.length);
  });
  if (state.run) await refreshView();
}

function renderChips(strings: string[], ids: number[]): void {
  ui.tokens.replaceChildren(
    ...strings.map((s, i) =>
      el("span", { class: "chip", "data-index": i, "data-token-id": ids[i], title: `#${i} · token ${ids[i]}` }, showToken(s)),
    ),
  );
}

// ---------------------------------------------------------------- views

function setView(view: View): void {
  state.view = view;
  for (const tab of ui.tabs) tab.setAttribute("aria-selected", String(tab.dataset.view === view));
  ui.activationsPanel.hidden = view !== "activations";
  ui.logprobsPanel.hidden = view !== "logprobs";
  document.body.dataset.view = view;
}

async function refreshView(): Promise<void> {
  if (!state.run) return;
  clearError();
  if (state.view === "activations") await loadActivations();
  else await loadLogprobs();
}

async function loadActivations(): Promise<void> {
  const run = state.run;
  if (!run) return;
  const choice = currentChoice();
  const previous = state.shown;
  if (previous && previous.run === run && sameNode(previous.choice, choice)) {
    // Nothing to ask the service: same activations, perhaps another number of units.
    if (previous.choice.topK !== choice.topK) {
      state.generation++;
      previous.choice = choice;
      ui.unitDetail.replaceChildren();
      ui.gradient.replaceChildren();
      renderUnits();
    }
    return;
  }
  const generation = ++state.generation;
  ui.unitDetail.replaceChildren();
  ui.gradient.replaceChildren();
  ui.heatmap.replaceChildren();
  ui.heads.replaceChildren();
  state.shown = undefined;
  await guarded(async () => {
    const request: ActivationsRequest = {
      residual: residualFor(run, choice),
      layerIndex: choice.layer,
      nodeType: choice.nodeType,
      preOrPostAct: choice.preOrPost,
      detachLayerNormScale: choice.detach,
    };
    if (choice.kind === "attention") request.attentionTraceType = choice.trace;
    if (choice.autoencoder) request.autoencoder = choice.autoencoder.name;
    const response = await api.activations(request);
    if (generation !== state.generation) return;
    const tensor = decodeTensor(response.activations);
    state.shown = { run, choice, request, tensor };
    if (choice.kind === "attention") renderAttention();
    else renderUnits();
  });
}

/** Whether two choices ask for the same activations (they may differ in the number of units shown). */
function sameNode(a: NodeChoice, b: NodeChoice): boolean {
  return (
    a.kind === b.kind &&
    a.nodeType === b.nodeType &&
    a.autoencoder?.name === b.autoencoder?.name &&
    a.layer === b.layer &&
    a.preOrPost === b.preOrPost &&
    (a.kind !== "attention" || a.trace === b.trace) &&
    a.detach === b.detach
  );
}

function describe(choice: NodeChoice): string {
  const what =
    choice.kind === "attention"
      ? `attention ${choice.preOrPost === "pre" ? "logits (pre-softmax)" : "probabilities"}, trace ${choice.trace}`
      : choice.kind === "mlp"
        ? `MLP neurons, ${choice.preOrPost}-activation`
        : `${choice.autoencoder?.name} latents, ${choice.preOrPost}-activation`;
  return `Layer ${choice.layer}: ${what}${choice.detach ? " · layer-norm scale detached" : ""}`;
}

/** Data attributes naming what a heatmap shows (for tests and for reading the DOM). */
function choiceAttrs(choice: NodeChoice): Record<string, string | number | boolean> {
  return {
    "data-kind": choice.kind,
    "data-node-type": choice.nodeType,
    "data-layer": choice.layer,
    "data-pre-or-post": choice.preOrPost,
    "data-trace": choice.kind === "attention" ? choice.trace : "",
    "data-detach": String(choice.detach),
  };
}

/** Tokens × top-k units heatmap (MLP neurons and autoencoder latents). */
function renderUnits(): void {
  const shown = state.shown;
  const run = state.run;
  if (!shown || !run) return;
  const [nTokens, nUnits] = shown.tensor.shape as [number, number];
  const v = shown.tensor.values;
  const peak = new Float32Array(nUnits).fill(Number.NEGATIVE_INFINITY);
  for (let t = 0; t < nTokens; t++)
    for (let u = 0; u < nUnits; u++) {
      const x = v[t * nUnits + u]!;
      if (x > peak[u]!) peak[u] = x;
    }
  const order = Array.from({ length: nUnits }, (_, u) => u).sort((a, b) => peak[b]! - peak[a]! || a - b);
  const units = order.slice(0, Math.min(shown.choice.topK, nUnits));
  shown.units = units;
  const scale = maxAbs(units.flatMap((u) => Array.from({ length: nTokens }, (_, t) => v[t * nUnits + u]!)));
  ui.activationsTitle.textContent = `${describe(shown.choice)} · top ${units.length} of ${nUnits} units by max activation`;

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
      el("th", { class: "row-token", "data-token": t }, showToken(run.tokenStrings[t] ?? "")),
      ...units.map((u) => {
        const x = v[t * nUnits + u]!;
        return el(
          "td",
          {
            class: x === 0 ? "cell zero" : "cell",
            "data-token": t,
            "data-unit": u,
            "data-value": x,
            title: `token ${t} ${JSON.stringify(run.tokenStrings[t])}, unit ${u}: ${x}\nclick for the gradient`,
            style: `background:${heatColour(x, scale)}`,
          },
          fmt(x),
        );
      }),
    ),
  );
  const table = el("table", { id: "heatmap-table", class: "heatmap units", ...choiceAttrs(shown.choice) }, el("thead", {}, head), el("tbody", {}, ...rows));
  table.addEventListener("click", (event) => {
    const target = (event.target as HTMLElement).closest<HTMLElement>("td.cell, th.unit");
    if (!target) return;
    const unit = Number(target.dataset.unit);
    showUnit(unit);
    if (target.matches("td.cell")) {
      markSelected(table, target);
      void loadGradient([Number(target.dataset.token), unit], `token ${target.dataset.token}, unit ${unit}`);
    }
  });
  ui.heatmap.replaceChildren(table);
}

/** One unit's activation per token, as coloured text. */
function showUnit(unit: number): void {
  const shown = state.shown;
  const run = state.run;
  if (!shown || !run) return;
  const [nTokens, nUnits] = shown.tensor.shape as [number, number];
  const values = Array.from({ length: nTokens }, (_, t) => shown.tensor.values[t * nUnits + unit]!);
  const scale = maxAbs(values);
  replace(
    ui.unitDetail,
    el("h3", {}, `Unit ${unit} per token`, el("span", { class: "hint" }, ` (max |a| ${fmt(scale)})`)),
    el(
      "p",
      { class: "coloured-text", id: "unit-text", "data-unit": unit },
      ...values.map((x, t) =>
        el(
          "span",
          { class: "tok", "data-token": t, "data-value": x, title: `${x}`, style: `background:${heatColour(x, scale)}` },
          run.tokenStrings[t] ?? "",
        ),
      ),
    ),
  );
}

/** Query × key heatmap of one head, with a head selector. */
function renderAttention(): void {
  const shown = state.shown;
  const run = state.run;
  if (!shown || !run) return;
  const [nQ, nK, nHeads] = shown.tensor.shape as [number, number, number];
  if (state.head >= nHeads) state.head = 0;
  ui.heads.replaceChildren(
    el("span", { class: "label" }, "Head "),
    ...Array.from({ length: nHeads }, (_, h) => {
      const button = el("button", { type: "button", class: "head", "data-head": h, "aria-pressed": String(h === state.head) }, String(h));
      button.addEventListener("click", () => {
        state.head = h;
        ui.gradient.replaceChildren();
        renderAttention();
      });
      return button;
    }),
  );
  const h = state.head;
  const v = shown.tensor.values;
  const at = (q: number, k: number) => v[(q * nK + k) * nHeads + h]!;
  const visible: number[] = [];
  for (let q = 0; q < nQ; q++) for (let k = 0; k <= Math.min(q, nK - 1); k++) visible.push(at(q, k));
  const scale = maxAbs(visible);
  ui.activationsTitle.textContent = `${describe(shown.choice)} · head ${h} · rows: query, columns: key`;
  const head = el(
    "tr",
    {},
    el("th", { class: "corner" }, "query \\ key"),
    ...Array.from({ length: nK }, (_, k) => el("th", { class: "key", "data-key": k }, showToken(run.tokenStrings[k] ?? ""))),
  );
  const rows = Array.from({ length: nQ }, (_, q) =>
    el(
      "tr",
      {},
      el("th", { class: "row-token", "data-token": q }, showToken(run.tokenStrings[q] ?? "")),
      ...Array.from({ length: nK }, (_, k) => {
        const x = at(q, k);
        if (k > q || !Number.isFinite(x))
          return el("td", { class: "cell masked", "data-query": q, "data-key": k, "data-head": h, "data-masked": true });
        return el(
          "td",
          {
            class: "cell",
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
  const table = el("table", { id: "heatmap-table", class: "heatmap attention", ...choiceAttrs(shown.choice), "data-head": h }, el("thead", {}, head), el("tbody", {}, ...rows));
  table.addEventListener("click", (event) => {
    const target = (event.target as HTMLElement).closest<HTMLElement>("td.cell:not(.masked)");
    if (!target) return;
    markSelected(table, target);
    const q = Number(target.dataset.query);
    const k = Number(target.dataset.key);
    void loadGradient([q, k, h], `query ${q}, key ${k}, head ${h}`);
  });
  ui.heatmap.replaceChildren(table);
}

function markSelected(table: HTMLElement, cell: HTMLElement): void {
  for (const c of table.querySelectorAll(".selected")) c.classList.remove("selected");
  cell.classList.add("selected");
}

/** Gradient of one activation with respect to the residual: its norm per token. */
async function loadGradient(indices: number[], label: string): Promise<void> {
  const shown = state.shown;
  const run = state.run;
  if (!shown || !run) return;
  clearError();
  const generation = state.generation;
  replace(ui.gradient, el("p", { class: "hint" }, `Computing the gradient of ${label}…`));
  await guarded(async () => {
    const response = await api.gradients({ ...shown.request, tensorIndices: indices });
    if (generation !== state.generation || state.shown !== shown) return;
    const g = decodeTensor(response.gradient);
    const [nTokens, dModel] = g.shape as [number, number];
    const norms = Array.from({ length: nTokens }, (_, t) => {
      let s = 0;
      for (let i = 0; i < dModel; i++) s += g.values[t * dModel + i]! ** 2;
      return Math.sqrt(s);
    });
    const scale = maxAbs(norms);
    replace(
      ui.gradient,
      el("h3", {}, `Gradient of ${label} w.r.t. the residual stream: L2 norm per token`),
      el(
        "p",
        { class: "coloured-text", id: "gradient-text", "data-indices": indices.join(",") },
        ...norms.map((n, t) =>
          el("span", { class: "tok", "data-token": t, "data-norm": n, title: `‖∂/∂resid[${t}]‖ = ${n}`, style: `background:${heatColour(n, scale)}` }, run.tokenStrings[t] ?? ""),
        ),
      ),
      el(
        "table",
        { class: "bars", id: "gradient-table" },
        ...norms.map((n, t) =>
          el(
            "tr",
            {},
            el("th", {}, `${t}`),
            el("td", { class: "bar-token" }, showToken(run.tokenStrings[t] ?? "")),
            el("td", { class: "bar-cell" }, el("span", { class: "bar", style: `width:${scale > 0 ? (100 * n) / scale : 0}%` })),
            el("td", { class: "num", "data-token": t, "data-norm": n }, fmt(n)),
          ),
        ),
      ),
    );
  });
}

/** Top next tokens per position, and the logprob of the token that actually follows. */
async function loadLogprobs(): Promise<void> {
  const run = state.run;
  const model = state.model;
  if (!run || !model) return;
  const generation = ++state.generation;
  const detach = ui.detach.checked;
  await guarded(async () => {
    if (!run.logprobs || run.logprobs.detach !== detach) {
      const final = run.residuals.get(`resid.post_mlp@${model.config.nLayers - 1}`);
      if (!final) throw new Error("the forward pass did not return the final residual");
      // Only the vocabulary entries that actually follow a position: [tokens, distinct next tokens], not [tokens, n_vocab].
      const next = [...new Set(run.tokens.slice(1))];
      const columns = new Map(next.map((token, column) => [token, column] as [number, number]));
      const response = next.length > 0 ? await api.logprobs(final, detach, next) : undefined;
      if (generation !== state.generation) return;
      run.logprobs = { detach, tensor: response && decodeTensor(response.logprobs), columns };
    }
    renderLogprobs(run);
  });
}

function renderLogprobs(run: PromptRun): void {
  const { tensor: lp, columns } = run.logprobs!;
  const width = lp?.shape[1] ?? 0;
  const predictions = run.forward.topPredictions;
  const k = Math.max(0, ...predictions.map((p) => p.length));
  const head = el(
    "tr",
    {},
    el("th", {}, "#"),
    el("th", {}, "token"),
    el("th", {}, "actual next"),
    el("th", {}, "its logprob"),
    ...Array.from({ length: k }, (_, i) => el("th", {}, `top ${i + 1}`)),
  );
  const rows = run.tokenStrings.map((s, t) => {
    const next = t + 1 < run.tokens.length ? run.tokens[t + 1]! : undefined;
    const nextLp = next === undefined || !lp ? undefined : lp.values[t * width + columns.get(next)!]!;
    return el(
      "tr",
      { "data-position": t },
      el("th", {}, String(t)),
      el("td", { class: "tok-cell" }, showToken(s)),
      el("td", { class: "tok-cell" }, next === undefined ? "—" : showToken(run.tokenStrings[t + 1] ?? "")),
      next === undefined
        ? el("td", { class: "num" }, "")
        : el("td", { class: "num actual", "data-token-id": next, "data-logprob": nextLp, style: `background:${heatColour(Math.exp(nextLp!), 1)}` }, fmt(nextLp!)),
      ...(predictions[t] ?? []).map((p, rank) =>
        el(
          "td",
          {
            class: p.token === next ? "prediction hit" : "prediction",
            "data-rank": rank,
            "data-token-id": p.token,
            "data-logprob": p.logprob,
            title: `token ${p.token}: logprob ${p.logprob} (p = ${Math.exp(p.logprob).toFixed(4)})`,
            style: `background:${heatColour(Math.exp(p.logprob), 1)}`,
          },
          el("span", { class: "pred-token" }, showToken(p.tokenString)),
          el("span", { class: "pred-lp" }, fmt(p.logprob)),
        ),
      ),
    );
  });
  replace(
    ui.logprobs,
    el("p", { class: "hint" }, "Top next tokens from /v1/forward; the actual next token's logprob from /v1/logprobs on the final residual. Shade: probability."),
    el("table", { id: "logprobs-table", class: "logprobs" }, el("thead", {}, head), el("tbody", {}, ...rows)),
  );
}

// ---------------------------------------------------------------- wiring

ui.run.addEventListener("click", () => void runPrompt());
ui.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    void runPrompt();
  }
});
ui.nodeKind.addEventListener("change", () => {
  fillLayers();
  syncControls();
  if (state.view !== "activations") setView("activations");
  void refreshView();
});
for (const control of [ui.layer, ui.preOrPost, ui.trace, ui.topK]) control.addEventListener("change", () => void refreshView());
ui.detach.addEventListener("change", () => void refreshView());
for (const tab of ui.tabs)
  tab.addEventListener("click", () => {
    setView(tab.dataset.view === "logprobs" ? "logprobs" : "activations");
    void refreshView();
  });

setView("activations");
void guarded(loadModel).then(() => {
  document.body.dataset.ready = "true";
});
