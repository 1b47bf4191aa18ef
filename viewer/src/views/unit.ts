// The unit page: one unit by layer and number (an MLP neuron, an autoencoder latent, or an attention head). Neurons
// and latents: the activation over the prompt as coloured text. Heads: the attention pattern, and one query's
// attention over the keys as coloured text. State: node, layer, unit, act, attn, detach, query.
//
// No logit lens: the service offers no endpoint that returns a unit's write vector (a neuron's W_out row, a head's
// OV output, a latent's decoder direction), which the lens would project onto the vocabulary.

import { app, byId, currentGeneration, navigate, nodeChoice, type NodeChoice, type PromptRun } from "../app.js";
import { colouredText, el, fmt, heatColour, maxAbs, replace } from "../render.js";
import type { AppState } from "../state.js";
import { activationsRequest, loadActivations } from "./activations.js";

export const LOGIT_LENS_NOTE =
  "No logit lens: the service has no endpoint that returns a unit's write vector (a neuron's output weights, a head's " +
  "OV output, a latent's decoder direction), so its top vocabulary tokens cannot be computed here.";

function unitName(choice: NodeChoice, unit: number): string {
  if (choice.kind === "attention") return `Attention head ${unit}, layer ${choice.layer}`;
  if (choice.kind === "latent") return `Latent ${unit} of ${choice.autoencoder?.name}, layer ${choice.layer}`;
  return `MLP neuron ${unit}, layer ${choice.layer}`;
}

/** Number of units of the chosen family at its layer. */
function unitCount(choice: NodeChoice): number {
  const c = app.model!.config;
  if (choice.kind === "attention") return c.nHeads;
  if (choice.kind === "latent") return choice.autoencoder!.nLatents;
  return c.dFf;
}

export async function renderUnitPage(run: PromptRun): Promise<void> {
  const state = app.state;
  const choice = nodeChoice(state, app.model!);
  const count = unitCount(choice);
  const input = byId<HTMLInputElement>("unit-number");
  input.max = String(count - 1);
  const unit = state.unit ?? 0;
  input.value = String(unit);
  const content = byId<HTMLElement>("unit-content");
  if (!Number.isInteger(unit) || unit < 0 || unit >= count) {
    replace(content, el("p", { class: "hint", id: "unit-out-of-range" }, `${unitName(choice, unit)} does not exist: this family has units 0 to ${count - 1}.`));
    return;
  }
  const isCurrent = currentGeneration();
  const tensor = await loadActivations(run, activationsRequest(run, choice, state));
  if (!isCurrent()) return;
  const title = el(
    "h2",
    { id: "unit-title", "data-node-type": choice.nodeType, "data-layer": choice.layer, "data-unit": unit, "data-pre-or-post": state.act },
    unitName(choice, unit),
    el("span", { class: "hint" }, ` · ${state.act}-activation${state.detach ? "" : " · layer-norm scale not detached"}`),
  );
  const lens = el("p", { class: "hint", id: "unit-lens" }, LOGIT_LENS_NOTE);
  if (choice.kind === "attention") replace(content, title, ...headPattern(run, state, tensor.values, tensor.shape as [number, number, number], unit), lens);
  else {
    const [nTokens, nUnits] = tensor.shape as [number, number];
    const values = Array.from({ length: nTokens }, (_, t) => tensor.values[t * nUnits + unit]!);
    let top = 0;
    for (let t = 1; t < nTokens; t++) if (values[t]! > values[top]!) top = t;
    replace(
      content,
      title,
      el("p", { class: "hint" }, `Activation per token (max ${fmt(values[top]!)} at #${top} ${JSON.stringify(run.texts[top]?.text ?? "")}; max |a| ${fmt(maxAbs(values))}).`),
      colouredText(run.texts, values, { id: "unit-activations", "data-unit": unit }),
      lens,
    );
  }
}

/** A head's query × key pattern, and the chosen query's row as coloured text over the keys. */
function headPattern(run: PromptRun, state: AppState, v: Float32Array, shape: [number, number, number], h: number): HTMLElement[] {
  const [nQ, nK, nHeads] = shape;
  const at = (q: number, k: number) => v[(q * nK + k) * nHeads + h]!;
  const query = state.query !== undefined && state.query < nQ ? state.query : nQ - 1;
  const visibleValues: number[] = [];
  for (let q = 0; q < nQ; q++) for (let k = 0; k <= q; k++) visibleValues.push(at(q, k));
  const scale = maxAbs(visibleValues);
  const row = Array.from({ length: nK }, (_, k) => (k <= query ? at(query, k) : Number.NaN));
  const table = el(
    "table",
    { id: "unit-pattern", class: "heatmap attention", "data-head": h },
    el("thead", {}, el("tr", {}, el("th", { class: "corner" }, "query \\ key"), ...run.texts.map((tt, k) => el("th", { class: "key", "data-key": k }, tt.label)))),
    el(
      "tbody",
      {},
      ...Array.from({ length: nQ }, (_, q) =>
        el(
          "tr",
          { class: q === query ? "chosen" : "" },
          el("th", { class: "row-token query-pick", "data-token": q, title: "show this query's attention as text" }, run.texts[q]?.label ?? ""),
          ...Array.from({ length: nK }, (_, k) => {
            const x = at(q, k);
            if (k > q || !Number.isFinite(x)) return el("td", { class: "cell masked", "data-query": q, "data-key": k, "data-masked": true });
            return el("td", { class: "cell", "data-query": q, "data-key": k, "data-value": x, style: `background:${heatColour(x, scale)}` }, fmt(x));
          }),
        ),
      ),
    ),
  );
  table.addEventListener("click", (event) => {
    const target = (event.target as HTMLElement).closest<HTMLElement>("th.query-pick, td.cell:not(.masked)");
    if (target) void navigate({ query: Number(target.dataset.token ?? target.dataset.query) });
  });
  return [
    el("h3", {}, `Attention of query #${query} ${JSON.stringify(run.texts[query]?.text ?? "")} over the keys`),
    colouredText(run.texts.slice(0, query + 1), row.slice(0, query + 1), { id: "unit-activations", "data-query": query, "data-unit": h }),
    el("h3", {}, "Pattern (rows: query, columns: key; click a row to show it as text)"),
    el("div", { class: "scroll" }, table),
  ];
}
