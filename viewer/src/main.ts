// The neuron viewer: wiring of the controls, the URL and the views. The page's state lives in the URL (state.ts);
// every control changes it through `navigate`, which writes the URL and renders the view it names.

import { onPendingChange } from "./api/client.js";
import { app, byId, clearCache, clearError, guarded, loadModel, loadRun, navigate, setRenderer, type PromptRun } from "./app.js";
import { el } from "./render.js";
import { DEFAULTS, formatState, parseState, type AppState, type ViewName } from "./state.js";
import { renderActivations } from "./views/activations.js";
import { renderAttribution } from "./views/attribution.js";
import { installKeyPrompt } from "./views/key.js";
import { renderLogprobs } from "./views/logprobs.js";
import { renderUnitPage } from "./views/unit.js";

const ui = {
  prompt: byId<HTMLTextAreaElement>("prompt"),
  run: byId<HTMLButtonElement>("run"),
  modelInfo: byId<HTMLElement>("model-info"),
  busy: byId<HTMLElement>("busy"),
  tokens: byId<HTMLElement>("tokens"),
  controls: byId<HTMLElement>("controls"),
  nodeKind: byId<HTMLSelectElement>("node-kind"),
  layer: byId<HTMLSelectElement>("layer"),
  preOrPost: byId<HTMLSelectElement>("pre-or-post"),
  trace: byId<HTMLSelectElement>("trace-type"),
  detach: byId<HTMLInputElement>("detach"),
  topK: byId<HTMLInputElement>("top-k"),
  unitForm: byId<HTMLFormElement>("unit-form"),
  unitNumber: byId<HTMLInputElement>("unit-number"),
  tabs: Array.from(document.querySelectorAll<HTMLButtonElement>("#views button[data-view]")),
};

const PANELS: Record<ViewName, string> = {
  activations: "activations-panel",
  attribution: "attribution-panel",
  unit: "unit-panel",
  logprobs: "logprobs-panel",
};

onPendingChange((pending) => {
  ui.busy.hidden = pending === 0;
  document.body.dataset.pending = String(pending);
  ui.run.disabled = pending > 0;
});

// ---------------------------------------------------------------- controls from the model and the state

let controlsFilled = false;

function fillControls(): void {
  const model = app.model!;
  const c = model.config;
  ui.modelInfo.textContent =
    `${c.nLayers} layers · d_model ${c.dModel} · ${c.nHeads} heads · d_ff ${c.dFf} · context ${c.nCtx} · ${model.device}` +
    (model.autoencoders.length ? ` · autoencoders: ${model.autoencoders.map((a) => a.name).join(", ")}` : "");
  ui.nodeKind.replaceChildren(
    el("option", { value: "mlp_neuron" }, "MLP neuron"),
    el("option", { value: "attention_head" }, "Attention head"),
    ...model.autoencoders.map((ae) => el("option", { value: `ae:${ae.name}` }, `Autoencoder latent (${ae.name})`)),
  );
  controlsFilled = true;
}

/** Layers that have the chosen node family. */
function layersOf(node: string): number[] {
  const model = app.model!;
  const ae = node.startsWith("ae:") ? model.autoencoders.find((a) => a.name === node.slice(3)) : undefined;
  return ae ? ae.layers : Array.from({ length: model.config.nLayers }, (_, i) => i);
}

function syncControls(state: AppState): void {
  for (const tab of ui.tabs) tab.setAttribute("aria-selected", String(tab.dataset.view === state.view));
  for (const [view, id] of Object.entries(PANELS)) byId(id).hidden = view !== state.view;
  document.body.dataset.view = state.view;
  ui.controls.hidden = state.view !== "activations" && state.view !== "unit";
  ui.controls.dataset.view = state.view;
  if (!app.model) return;
  if (ui.nodeKind.querySelector(`option[value="${CSS.escape(state.node)}"]`)) ui.nodeKind.value = state.node;
  const layers = layersOf(ui.nodeKind.value);
  ui.layer.replaceChildren(...layers.map((l) => el("option", { value: l }, String(l))));
  ui.layer.value = String(layers.includes(state.layer) ? state.layer : (layers[0] ?? 0));
  ui.preOrPost.value = state.act;
  ui.trace.value = state.attn;
  ui.detach.checked = state.detach;
  ui.topK.value = String(state.units);
  const attention = ui.nodeKind.value === "attention_head";
  ui.trace.disabled = !attention;
  ui.topK.disabled = attention;
  ui.unitNumber.value = String(state.unit ?? 0);
}

function renderChips(run: PromptRun): void {
  ui.tokens.replaceChildren(
    ...run.texts.map((tt, i) =>
      el(
        "span",
        { class: tt.text === "" ? "chip partial" : "chip", "data-index": i, "data-token-id": run.tokens[i], title: `#${i} · token ${run.tokens[i]}${tt.hex ? ` · bytes ${tt.hex}` : ""}` },
        tt.label,
      ),
    ),
  );
}

// ---------------------------------------------------------------- rendering the state

async function render(): Promise<void> {
  const state = app.state;
  syncControls(state);
  clearError();
  await guarded(async () => {
    await loadModel();
    if (!controlsFilled) {
      fillControls();
      syncControls(state);
    }
    const run = await loadRun(state.prompt);
    if (app.state !== state) return;
    renderChips(run);
    document.body.dataset.tokens = String(run.tokens.length);
    switch (state.view) {
      case "activations":
        return renderActivations(run);
      case "attribution":
        return renderAttribution(run);
      case "unit":
        return renderUnitPage(run);
      case "logprobs":
        return renderLogprobs(run);
    }
  });
}

setRenderer(render);

// ---------------------------------------------------------------- wiring

function runPrompt(): void {
  clearCache();
  void navigate({ prompt: ui.prompt.value, cell: undefined, unit: app.state.view === "unit" ? app.state.unit : undefined, query: undefined, target: undefined, distractor: undefined, trail: [], ablate: [] });
}

ui.run.addEventListener("click", runPrompt);
ui.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    runPrompt();
  }
});
ui.nodeKind.addEventListener("change", () => {
  const layers = layersOf(ui.nodeKind.value);
  const layer = layers.includes(app.state.layer) ? app.state.layer : (layers[0] ?? 0);
  void navigate({ node: ui.nodeKind.value, layer, cell: undefined, unit: app.state.view === "unit" ? 0 : undefined, query: undefined });
});
ui.layer.addEventListener("change", () =>
  void navigate({ layer: Number(ui.layer.value), cell: undefined, unit: app.state.view === "unit" ? app.state.unit : undefined }),
);
ui.preOrPost.addEventListener("change", () => void navigate({ act: ui.preOrPost.value === "pre" ? "pre" : "post" }));
ui.trace.addEventListener("change", () => void navigate({ attn: (ui.trace.value as AppState["attn"]) || "QK" }));
ui.detach.addEventListener("change", () => void navigate({ detach: ui.detach.checked }));
ui.topK.addEventListener("change", () => void navigate({ units: Math.max(1, Math.min(64, Math.floor(Number(ui.topK.value) || DEFAULTS.units))) }));
ui.unitForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void navigate({ view: "unit", unit: Math.max(0, Math.floor(Number(ui.unitNumber.value) || 0)) });
});
for (const tab of ui.tabs) tab.addEventListener("click", () => void navigate({ view: tab.dataset.view as ViewName }));

window.addEventListener("popstate", () => {
  app.state = parseState(location.search);
  ui.prompt.value = app.state.prompt;
  void navigate({}, "none");
});

installKeyPrompt();
app.state = parseState(location.search);
ui.prompt.value = app.state.prompt;
// The address bar shows the state from the start, example prompt included.
history.replaceState(null, "", formatState(app.state) + location.hash);
void navigate({}, "none").then(() => {
  document.body.dataset.ready = "true";
});
