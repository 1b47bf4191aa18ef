// What every view shares: the page's state (mirrored in the URL), the model, the current prompt's forward pass, error
// display, and a small cache of answers so that going back and forth between views asks the service nothing new.

import { api, ApiError } from "./api/client.js";
import type { AutoencoderInfoResponse, FloatTensorPayload, ForwardResponse, ModelInfoResponse } from "./api/types.js";
import { el, replace } from "./render.js";
import { formatState, type AppState } from "./state.js";
import { tokenTexts, type TokenText } from "./tokens.js";

/** What the forward pass gave for a prompt. */
export interface PromptRun {
  prompt: string;
  tokens: number[];
  texts: TokenText[];
  forward: ForwardResponse;
  /** Captured residuals keyed `location@layer` (`@` alone for layer-less locations). */
  residuals: Map<string, FloatTensorPayload>;
}

/** The node family chosen by the `node` parameter, with its layer. */
export interface NodeChoice {
  kind: "mlp" | "attention" | "latent";
  nodeType: "mlp_neuron" | "attention_head" | AutoencoderInfoResponse["nodeType"];
  autoencoder?: AutoencoderInfoResponse;
  layer: number;
}

export const CAPTURE = ["resid.post_emb", "resid.post_attn", "resid.post_mlp"];
export const TOP_PREDICTIONS = 5;

export function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node as T;
}

export const app: { state: AppState; model?: ModelInfoResponse; run?: PromptRun } = {
  state: undefined as unknown as AppState,
};

// ---------------------------------------------------------------- navigation

type Renderer = () => Promise<void>;
let renderer: Renderer = async () => {};
let generation = 0;

export function setRenderer(render: Renderer): void {
  renderer = render;
}

/** A token for one rendering: false once the state has changed again (late answers are then dropped). */
export function currentGeneration(): () => boolean {
  const mine = generation;
  return () => mine === generation;
}

/**
 * Moves to a new state: writes it to the URL (`push`: a new history entry that Back returns from; `replace`; `none`
 * when the URL already holds it) and renders it.
 */
export async function navigate(patch: Partial<AppState>, how: "push" | "replace" | "none" = "push"): Promise<void> {
  app.state = { ...app.state, ...patch };
  const url = formatState(app.state) + location.hash;
  if (how === "push" && url !== location.search + location.hash) history.pushState(null, "", url);
  else if (how !== "none") history.replaceState(null, "", url);
  generation++;
  await renderer();
}

// ---------------------------------------------------------------- errors

const errorBox = () => byId<HTMLElement>("error");

export function showError(error: unknown): void {
  const box = errorBox();
  let status = "";
  let message: string;
  if (error instanceof ApiError) {
    status = error.status > 0 ? `${error.status} ${error.title}` : error.title;
    message = error.detail ?? error.title;
    box.dataset.status = String(error.status);
    if (error.field) box.dataset.field = error.field;
    else delete box.dataset.field;
  } else {
    message = error instanceof Error ? error.message : String(error);
    box.dataset.status = "";
  }
  replace(box, el("strong", { class: "error-status" }, status || "Error"), " ", el("span", { class: "error-message" }, message));
  box.hidden = false;
}

export function clearError(): void {
  const box = errorBox();
  box.hidden = true;
  box.replaceChildren();
}

/** Runs an async action, showing its failure; returns undefined on failure. */
export async function guarded<T>(action: () => Promise<T>): Promise<T | undefined> {
  try {
    return await action();
  } catch (e) {
    showError(e);
    return undefined;
  }
}

// ---------------------------------------------------------------- answers, cached

const cache = new Map<string, Promise<unknown>>();
const CACHE_ENTRIES = 48;

/** The answer for `key`, asked once; failures are not kept. The oldest entries go first. */
export function cached<T>(key: string, ask: () => Promise<T>): Promise<T> {
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit as Promise<T>;
  }
  const answer = ask();
  cache.set(key, answer);
  answer.catch(() => cache.delete(key));
  while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  return answer;
}

export function clearCache(): void {
  cache.clear();
  app.run = undefined;
}

// ---------------------------------------------------------------- model and prompt

export async function loadModel(): Promise<ModelInfoResponse> {
  app.model ??= await api.model();
  return app.model;
}

/** The forward pass of `prompt` (tokens, top predictions, the residuals every node reads). */
export async function loadRun(prompt: string): Promise<PromptRun> {
  if (app.run?.prompt === prompt) return app.run;
  const forward = await cached(`forward:${prompt}`, () => api.forward({ prompt, capture: CAPTURE, topK: TOP_PREDICTIONS }));
  const residuals = new Map<string, FloatTensorPayload>();
  for (const c of forward.captured) {
    // Captures are float32 (the model's dtype); the wire type allows any tensor dtype.
    if (c.tensor.dtype === "int32") throw new Error(`the forward pass returned ${c.location} as int32`);
    residuals.set(`${c.location}@${c.layer ?? ""}`, c.tensor as FloatTensorPayload);
  }
  const run: PromptRun = { prompt, tokens: forward.tokens, texts: tokenTexts(forward.tokenBytes), forward, residuals };
  app.run = run;
  return run;
}

/** The node family named by `node` (`mlp_neuron`, `attention_head`, `ae:<name>`), falling back to MLP neurons. */
export function nodeChoice(state: AppState, model: ModelInfoResponse): NodeChoice {
  if (state.node.startsWith("ae:")) {
    const autoencoder = model.autoencoders.find((a) => a.name === state.node.slice(3));
    if (autoencoder) return { kind: "latent", nodeType: autoencoder.nodeType, autoencoder, layer: state.layer };
  }
  if (state.node === "attention_head") return { kind: "attention", nodeType: "attention_head", layer: state.layer };
  return { kind: "mlp", nodeType: "mlp_neuron", layer: state.layer };
}

/**
 * The residual stream a node reads: before the layer (`resid.pre`) for attention heads; for latents the one the
 * autoencoder's `residual` names (`resid.pre`, `resid.post_attn` or `resid.post_mlp` of the layer); `resid.post_attn` of
 * the layer for MLP neurons.
 */
export function residualFor(run: PromptRun, choice: NodeChoice): FloatTensorPayload {
  const reads = choice.kind === "attention" ? "resid.pre" : (choice.autoencoder?.residual ?? "resid.post_attn");
  const key =
    reads === "resid.pre" ? (choice.layer === 0 ? "resid.post_emb@" : `resid.post_mlp@${choice.layer - 1}`) : `${reads}@${choice.layer}`;
  const residual = run.residuals.get(key);
  if (!residual) throw new Error(`the forward pass did not return ${key}`);
  return residual;
}
